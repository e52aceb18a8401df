#include "rate_bench.hpp"

#include <fmt/format.h>

#include "child_process.hpp"

namespace tp::bench {
namespace {

constexpr auto kRunTimeout = std::chrono::minutes(1);
const std::string kPingPong = "pingpong";

double run_pingpong(const RateConfig& config, const Environment& env) {
    const std::string out = run_to_end(env.program("pingpong"),
                                       {"--duration", duration_arg(config.duration)}, kRunTimeout);
    return parse_json_line(out, "pingpong").at("rps").get<double>();
}

double run_rateprobe(const RateConfig& config, const Environment& env, const std::string& model,
                     unsigned repetition) {
    const auto json_path = env.scratch / fmt::format("rateprobe-{}-{}.json", model, repetition + 1);
    run_to_end(env.program("rateprobe"),
               {"--server-model", model, "--duration", duration_arg(config.duration), "--json",
                json_path.string(), "--quiet"},
               kRunTimeout);
    return read_json_file(json_path).at("summary").at("baseline_rps").get<double>();
}

}  // namespace

RateResult run_rate_bench(const RateConfig& config, const Environment& env) {
    RateResult r;
    r.config = config;
    std::vector<std::string> subjects = {kPingPong};
    subjects.insert(subjects.end(), config.models.begin(), config.models.end());
    for (unsigned rep = 0; rep < config.repetitions; ++rep) {
        for (std::size_t i = 0; i < subjects.size(); ++i) {
            const std::string& subject = subjects[(i + rep) % subjects.size()];
            env.progress(fmt::format("rate {}/{}: {}", rep + 1, config.repetitions, subject));
            if (subject == kPingPong)
                r.pingpong_rps.add(run_pingpong(config, env));
            else
                r.model_rps[subject].add(run_rateprobe(config, env, subject, rep));
        }
    }
    for (const auto& [model, rps] : r.model_rps)
        r.model_ratio[model] = paired_ratios(rps, r.pingpong_rps);
    return r;
}

nlohmann::json to_json(const RateResult& r) {
    nlohmann::json models = nlohmann::json::object();
    for (const auto& [model, rps] : r.model_rps)
        models[model] = {{"rps", to_json(rps, 1)}, {"ratio", to_json(r.model_ratio.at(model))}};
    return {{"duration_s", std::chrono::duration<double>(r.config.duration).count()},
            {"pingpong_rps", to_json(r.pingpong_rps, 1)},
            {"models", models}};
}

}  // namespace tp::bench
