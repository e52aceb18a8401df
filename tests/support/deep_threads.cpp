// A test subject for threadprobe --pid: threads that recurse to known depths, note the deepest
// byte they wrote, and block. Prints one JSON line ({"pid", "threads": [{"tid", "lowest"}]})
// once every thread is blocked, then waits for its standard input to close.
//   deep_threads STACK_BYTES|default DEPTH_KIB[,DEPTH_KIB...]
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Subject {
    std::size_t depth_bytes = 0;
    std::atomic<std::uintptr_t> lowest{0};
    std::atomic<pid_t> tid{0};
};

std::atomic<int> ready{0};
int release_pipe[2];

// Each frame writes all of its 1 KiB, so every page from the thread's first frame down to the
// deepest is touched; the work after the call keeps it from being a tail call.
__attribute__((noinline)) std::uintptr_t descend(const char* top, std::size_t depth) {
    volatile char frame[1024];
    std::memset(const_cast<char*>(frame), 1, sizeof frame);
    std::uintptr_t lowest = reinterpret_cast<std::uintptr_t>(&frame[0]);
    if (static_cast<std::size_t>(top - const_cast<char*>(frame)) < depth)
        lowest = descend(top, depth);
    frame[0] = static_cast<char>(frame[1] + 1);
    return lowest;
}

void* run(void* arg) {
    auto* s = static_cast<Subject*>(arg);
    char top;
    s->tid = static_cast<pid_t>(::syscall(SYS_gettid));
    s->lowest = descend(&top, s->depth_bytes);
    ++ready;
    char byte;
    while (::read(release_pipe[0], &byte, 1) < 0) {
    }
    return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: deep_threads STACK_BYTES|default DEPTH_KIB[,...]\n");
        return 2;
    }
    if (::pipe(release_pipe) != 0) return 1;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (std::string(argv[1]) != "default")
        pthread_attr_setstacksize(&attr, std::strtoull(argv[1], nullptr, 10));
    std::vector<std::size_t> depth_kib;
    std::stringstream depths(argv[2]);
    for (std::string d; std::getline(depths, d, ',');) depth_kib.push_back(std::stoull(d));
    std::vector<Subject> subjects(depth_kib.size());  // atomics: made in place, never moved
    for (std::size_t i = 0; i < subjects.size(); ++i) subjects[i].depth_bytes = depth_kib[i] * 1024;
    std::vector<pthread_t> threads(subjects.size());
    for (std::size_t i = 0; i < subjects.size(); ++i)
        if (pthread_create(&threads[i], &attr, run, &subjects[i]) != 0) return 1;
    while (ready < static_cast<int>(subjects.size())) ::usleep(1000);
    std::string line = "{\"pid\":" + std::to_string(::getpid()) + ",\"threads\":[";
    for (std::size_t i = 0; i < subjects.size(); ++i)
        line += (i ? "," : "") + std::string("{\"tid\":") + std::to_string(subjects[i].tid) +
                ",\"depth_kib\":" + std::to_string(subjects[i].depth_bytes / 1024) +
                ",\"lowest\":" + std::to_string(subjects[i].lowest) + "}";
    std::printf("%s]}\n", line.c_str());
    std::fflush(stdout);
    char byte;
    while (::read(STDIN_FILENO, &byte, 1) > 0) {
    }
    ::close(release_pipe[1]);
    for (auto& t : threads) pthread_join(t, nullptr);
    return 0;
}
