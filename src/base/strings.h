// Small string helpers shared by every module. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strake {

std::vector<std::string> Split(std::string_view s, char sep);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);
std::string_view Trim(std::string_view s);
// ASCII lower case.
std::string ToLower(std::string_view s);
// A size in bytes: a whole number with an optional suffix K, M, G or T
// (powers of 1024; "Ki", "KB", "KiB" read the same), as "10G" or "512Mi".
std::optional<int64_t> ParseByteSize(std::string_view s);
// An environment variable's name for `s`: "source-branch" -> "SOURCE_BRANCH".
std::string EnvVarName(std::string_view s);
bool StartsWith(std::string_view s, std::string_view prefix);
bool EndsWith(std::string_view s, std::string_view suffix);
void ReplaceAll(std::string& s, std::string_view from, std::string_view to);

// Levenshtein distance, for "did you mean" suggestions.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word` if it is close enough to be a likely typo
// (distance at most a third of the word's length, and at least 1).
std::optional<std::string> NearestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates);

// " (did you mean "x"?)" or "" when nothing is close.
std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates);

// Quotes s as a JSON string literal (used in messages and plain output).
// A byte that is not part of valid UTF-8 shows as U+FFFD, so the literal is
// always valid JSON: a message goes into JSON bodies and stored status,
// and a quoted value may be cut mid-character or be raw bytes off a socket.
std::string Quote(std::string_view s);

// The length (1 to 4) of the well-formed UTF-8 character `s` starts with,
// or 0 if it starts with none (RFC 3629: no overlong forms, no surrogates,
// nothing past U+10FFFF).
size_t Utf8CharLength(std::string_view s);
// True if all of `s` is well-formed UTF-8 (as Go's utf8.Valid).
bool IsValidUtf8(std::string_view s);

// True if `name` is a Kubernetes DNS-1123 label (lower case alphanumerics and
// '-', starting and ending alphanumeric, at most 63 characters).
bool IsDnsLabel(std::string_view name);

// True if `name` is a Kubernetes DNS-1123 subdomain: parts of lower case
// alphanumerics and '-', each starting and ending alphanumeric, joined by
// '.', at most 253 characters (the form of most object names).
bool IsDnsSubdomain(std::string_view name);

// True if `key` is a valid ConfigMap or Secret key, as Kubernetes checks it:
// alphanumerics, '-', '_' and '.', at most 253 characters, neither "." nor
// starting with ".." (a key becomes a file name).
bool IsConfigMapKey(std::string_view key);

// True if `path` is relative and descends only (Kubernetes' subPath and
// items[].path rule): no leading '/', no ".." component, no NUL.
bool IsLocalDescendingPath(std::string_view path);

// True if the JSON text nests objects and arrays at most max_depth deep
// (strings are skipped; the text is not otherwise checked). A recursive
// parser must not be handed a body of a million '['.
bool JsonDepthWithin(std::string_view text, size_t max_depth);

}  // namespace strake
