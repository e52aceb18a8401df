// Room in RLIMIT_NOFILE for the connections a server promises to hold. Many systems start
// programs with a soft limit of 1024 (for select(2), which fibserver does not use) under a
// hard limit a thousand times higher: a server that stayed at 1024 would run out of
// descriptors long before its --max-connections, and its clients would wait in the listen
// queue instead of being served or told no.
#pragma once

#include <sys/resource.h>

#include <cstdint>

namespace tp {

struct DescriptorRoom {
    rlim_t before = 0;  // the soft limit found
    rlim_t after = 0;   // the soft limit now
    rlim_t hard = 0;
    bool enough = false;  // after >= what was asked for
};

// Raises the soft RLIMIT_NOFILE to `needed` descriptors if it is lower, as far as the hard limit
// allows; never lowers it. Throws std::system_error if the limit cannot be read.
DescriptorRoom make_room_for_descriptors(std::uint64_t needed);

}  // namespace tp
