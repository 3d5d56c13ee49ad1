// A string as a YAML double-quoted scalar, for the writers of YAML text:
// model::ToYaml (node.h) and the promotion steps that edit a file in place
// (delivery/yaml_edit.h). `"` and `\` are escaped, tab and newline as \t
// and \n, and every code point libyaml refuses raw or that would change on
// reading back (C0 and C1 controls, DEL, U+2028, U+2029, a byte order mark,
// U+FFFE, U+FFFF) as \uXXXX; a byte that is not UTF-8 becomes U+FFFD.
#pragma once

#include <string>
#include <string_view>

namespace strake::model {

std::string YamlDoubleQuoted(std::string_view s);

}  // namespace strake::model
