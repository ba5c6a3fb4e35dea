#pragma once
// Text checks shared by the suites that look for parts of error messages and notes.

#include <string>

namespace qint8::test {

/// Does `s` hold `part` anywhere?
inline bool has_text(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace qint8::test
