// How much faster several threads compute together than one alone, on the article's CPU-bound
// work (the naive fib). Counting processing units is not enough: two PUs that are SMT siblings
// of one core, or two vCPUs a host runs on one core, compute together at about the speed of
// one, and a claim about parallelism (perf1's two clients) then cannot be tested.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tp {

struct ParallelSpeedup {
    unsigned threads = 0;
    double one_ms = 0;       // one thread computing alone, best of a few tries
    double together_ms = 0;  // `threads` threads each computing the same at once, best of a few
    // threads on cores that compute side by side: `threads`; one core's worth: about 1.
    double speedup() const { return together_ms > 0 ? threads * one_ms / together_ms : 0; }
};

// Takes about 60 ms with 2 threads.
ParallelSpeedup measure_parallel_speedup(unsigned threads);

// How fast each usable PU computes a short fib, one PU at a time, just before and just after an
// experiment. A host that shares its virtual CPUs runs one at about half speed for a second or
// several at a time, which /proc/stat does not show (steal 0 on the development VM): perf1's
// latencies and perf2's rates measured then are the host's, and comparing the checks of every
// experiment of a run tells which ran at the machine's full speed.
struct PuSpeed {
    std::string pu;     // hwloc's OS index
    double fib_ms = 0;  // best of a few tries
};
struct SpeedCheck {
    unsigned fib_n = 0;
    std::vector<PuSpeed> pus;
};
// Takes about 6 ms a PU at full speed.
SpeedCheck check_pu_speeds();
// {"fib_n": 32, "pus": [{"pu": "0", "fib_ms": 1.45}, ...]}; null for none.
nlohmann::json to_json(const std::optional<SpeedCheck>& check);

}  // namespace tp
