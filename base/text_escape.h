// Escaping for the text formats the collector writes: JSON strings, logfmt
// values and Go-style quoted strings (Prometheus and Loki label values).
// Input is UTF-8 (validated at ingest); only quotes, backslashes and control
// characters are escaped.
#pragma once

#include <string>
#include <string_view>

namespace tributary {

// Appends `s` as a JSON string, quotes included.
void AppendJsonString(std::string* out, std::string_view s);
std::string JsonString(std::string_view s);

// Appends `s` in double quotes with \" \\ \n \r \t and \xNN escapes: a Go
// string literal, as label-set syntax ({job="x"}) wants.
void AppendQuoted(std::string* out, std::string_view s);

// Appends `s` as a logfmt value: bare when it can be, else AppendQuoted.
void AppendLogfmtValue(std::string* out, std::string_view s);

}  // namespace tributary
