#include "descriptor_limit.hpp"

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace tp {

DescriptorRoom make_room_for_descriptors(std::uint64_t needed) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
        throw std::system_error(errno, std::generic_category(), "getrlimit RLIMIT_NOFILE");
    DescriptorRoom room{limit.rlim_cur, limit.rlim_cur, limit.rlim_max, false};
    const auto wanted = static_cast<rlim_t>(needed);
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
        const rlim_t raised =
            limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
        rlimit changed{raised, limit.rlim_max};
        if (::setrlimit(RLIMIT_NOFILE, &changed) == 0) room.after = raised;
    }
    room.enough = room.after == RLIM_INFINITY || room.after >= wanted;
    return room;
}

}  // namespace tp
