// Where a probe and the server it starts run. A ping-pong of tiny requests, or one request
// computed at a time, depends on the one PU it runs on: on whether client and server share it,
// and on how fast it computes. A host that shares its virtual CPUs runs one of them at about
// half speed for tens of seconds at a time (seen on the development VM, unseen in /proc/stat),
// so the PU is chosen by a speed check at the start, not by its number.
#pragma once

#include <optional>
#include <string>

#include "parallelism.hpp"

namespace tp {

enum class Placement {
    one_pu,  // the probe and the server it starts on the PU computing fastest at the start
    free,    // wherever the scheduler puts them
};
// "one-pu", "free"; throws UsageError naming --placement for anything else.
Placement parse_placement_option(const std::string& name);
const char* placement_name(Placement p);

// The usable PU that computed the check fastest (the first usable one for an empty check).
std::string fastest_pu(const SpeedCheck& check);

}  // namespace tp
