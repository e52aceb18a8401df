// How much faster several threads compute together than one alone, on the article's CPU-bound
// work (the naive fib). Counting processing units is not enough: two PUs that are SMT siblings
// of one core, or two vCPUs a host runs on one core, compute together at about the speed of
// one, and a claim about parallelism (perf1's two clients) then cannot be tested.
#pragma once

namespace tp {

struct ParallelSpeedup {
    unsigned threads = 0;
    double one_ms = 0;       // one thread computing alone, best of a few tries
    double together_ms = 0;  // `threads` threads each computing the same at once, best of a few
    // threads on cores that compute side by side: `threads`; one core's worth: about 1.
    double speedup() const { return together_ms > 0 ? threads * one_ms / together_ms : 0; }
};

// Takes about 100 ms with 2 threads.
ParallelSpeedup measure_parallel_speedup(unsigned threads);

}  // namespace tp
