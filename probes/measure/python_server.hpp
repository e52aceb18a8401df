// The article's Python server (server/python/fibserver.py) as a probe's embedded server:
// `--server-model python:MODEL` runs it under the python3 on PATH, so the real CPython and its
// GIL are measured beside fibserver's emulation. Where it is: installed, under
// share/threadprobe/python beside bin/; in a build tree, in the source tree it was built from.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tp {

inline constexpr std::string_view kPythonModelPrefix = "python:";

// "python:threads" -> "threads"; nullopt for a fibserver model.
std::optional<std::string> python_model(const std::string& model);
// The models server/python/fibserver.py serves, as the help lists them.
const std::string& python_model_names();  // "iterative, threads, pool, threshold, prefork"
bool is_python_model_name(const std::string& name);

// `name` in a directory of $PATH, as a shell would find it; nullopt where none has it.
std::optional<std::string> find_on_path(const std::string& name);
// The server script; nullopt where neither place has it.
std::optional<std::string> python_server_script();

}  // namespace tp
