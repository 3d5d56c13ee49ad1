#include "delivery/yaml_edit.h"

#include <fmt/format.h>
#include <yaml.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "base/strings.h"
#include "model/yaml_scalar.h"

namespace strake::delivery {

using model::Json;

namespace {

constexpr int kMaxDepth = 100;
constexpr size_t kMaxBytes = 8u << 20;

// A node of the first document, with the bytes it spans.
struct YNode {
  enum class Kind { kScalar, kSeq, kMap, kAlias };
  Kind kind = Kind::kScalar;
  size_t start = 0;  // its first byte (an anchor or a tag included)
  size_t end = 0;    // just past its last byte of content (a block collection: its last item's)
  std::string value;
  yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
  bool props = false;       // has an anchor or a tag
  bool flow = false;        // is, or is inside, a flow collection
  std::vector<YNode> kids;  // a list's items; a mapping's keys and values, alternating
};

struct EventDeleter {
  void operator()(yaml_event_t* e) const {
    yaml_event_delete(e);
    delete e;
  }
};
using Event = std::unique_ptr<yaml_event_t, EventDeleter>;

// Reads the first document of a text into YNodes. libyaml's marks count
// characters; they are turned into byte offsets.
class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {
    base_ = StartsWith(text, "\xEF\xBB\xBF") ? 3 : 0;
    size_t chars = 0, extra = 0;
    for (size_t i = base_; i < text.size(); ++chars) {
      auto lead = static_cast<unsigned char>(text[i]);
      size_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
      if (len > 1) {
        extra += len - 1;
        wide_.emplace_back(chars, extra);
      }
      i += len;
    }
    ready_ = yaml_parser_initialize(&parser_) != 0;
    if (ready_) {
      yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                   text.size());
    }
  }
  ~Reader() {
    if (ready_) yaml_parser_delete(&parser_);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // The first document's root; nullopt when there is none.
  Result<std::optional<YNode>> First() {
    if (!ready_) return Fail("cannot start the YAML parser");
    STRAKE_TRY_ASSIGN(stream, Next());
    STRAKE_TRY_ASSIGN(doc, Next());
    if (doc->type != YAML_DOCUMENT_START_EVENT) return std::optional<YNode>();
    STRAKE_TRY_ASSIGN(first, Next());
    STRAKE_TRY_ASSIGN(root, Build(std::move(first), false, 0));
    return std::optional<YNode>(std::move(root));
  }

 private:
  // The byte offset of character `m.index`: past the BOM, one byte per
  // character, and the extra bytes of the wide characters before it.
  size_t Byte(const yaml_mark_t& m) const {
    auto after = std::lower_bound(wide_.begin(), wide_.end(), m.index,
                                  [](const auto& w, size_t index) { return w.first < index; });
    size_t extra = after == wide_.begin() ? 0 : std::prev(after)->second;
    return std::min(base_ + m.index + extra, text_.size());
  }

  Result<Event> Next() {
    Event ev(new yaml_event_t);
    std::memset(ev.get(), 0, sizeof(yaml_event_t));
    if (!yaml_parser_parse(&parser_, ev.get())) {
      return Failf("line {}, column {}: {}{}", parser_.problem_mark.line + 1,
                   parser_.problem_mark.column + 1,
                   parser_.problem ? parser_.problem : "invalid YAML",
                   parser_.context ? std::string(" ") + parser_.context : "");
    }
    return ev;
  }

  Result<YNode> Build(Event ev, bool flow, int depth) {
    if (depth > kMaxDepth) return Failf("nested deeper than {} levels", kMaxDepth);
    YNode n;
    n.start = Byte(ev->start_mark);
    n.end = Byte(ev->end_mark);
    n.flow = flow;
    switch (ev->type) {
      case YAML_SCALAR_EVENT: {
        const auto& s = ev->data.scalar;
        n.value.assign(reinterpret_cast<const char*>(s.value), s.length);
        n.style = s.style;
        n.props = s.anchor != nullptr || s.tag != nullptr;
        // A block scalar's end mark is where the next line's content starts.
        while (n.end > n.start && std::isspace(static_cast<unsigned char>(text_[n.end - 1])))
          --n.end;
        return n;
      }
      case YAML_ALIAS_EVENT:
        n.kind = YNode::Kind::kAlias;
        return n;
      case YAML_SEQUENCE_START_EVENT:
        n.kind = YNode::Kind::kSeq;
        n.props =
            ev->data.sequence_start.anchor != nullptr || ev->data.sequence_start.tag != nullptr;
        n.flow = flow || ev->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
        return Collection(std::move(n), YAML_SEQUENCE_END_EVENT, depth);
      case YAML_MAPPING_START_EVENT:
        n.kind = YNode::Kind::kMap;
        n.props = ev->data.mapping_start.anchor != nullptr || ev->data.mapping_start.tag != nullptr;
        n.flow = flow || ev->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
        return Collection(std::move(n), YAML_MAPPING_END_EVENT, depth);
      default:
        return Fail("unexpected YAML event");
    }
  }

  Result<YNode> Collection(YNode n, yaml_event_type_t end, int depth) {
    while (true) {
      STRAKE_TRY_ASSIGN(ev, Next());
      if (ev->type == end) {
        // A block collection's end mark is the next token's: its last item ends it.
        if (n.flow) {
          n.end = Byte(ev->end_mark);
        } else {
          n.end = n.kids.empty() ? n.start : n.kids.back().end;
        }
        return n;
      }
      STRAKE_TRY_ASSIGN(kid, Build(std::move(ev), n.flow, depth + 1));
      n.kids.push_back(std::move(kid));
    }
  }

  std::string_view text_;
  size_t base_ = 0;
  // Each character of more than one byte: its index, and the bytes beyond
  // one per character up to its end.
  std::vector<std::pair<size_t, size_t>> wide_;
  yaml_parser_t parser_{};
  bool ready_ = false;
};

Result<YNode> FirstDocument(std::string_view text) {
  if (text.size() > kMaxBytes)
    return Failf("the file is larger than the limit of {} bytes", kMaxBytes);
  if (text.find('\0') != std::string_view::npos || StartsWith(text, "\xFE\xFF") ||
      StartsWith(text, "\xFF\xFE")) {
    return Fail("the file is not UTF-8 text");
  }
  Reader reader(text);
  STRAKE_TRY_ASSIGN(root, reader.First());
  if (!root) return Fail("the file holds no YAML document");
  return std::move(*root);
}

const char* KindName(const YNode& n) {
  switch (n.kind) {
    case YNode::Kind::kScalar:
      return "a scalar";
    case YNode::Kind::kSeq:
      return "a list";
    case YNode::Kind::kMap:
      return "a mapping";
    case YNode::Kind::kAlias:
      return "an alias";
  }
  return "?";
}

bool Digits(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The value of a mapping's key, or nullptr; `keys` gathers the keys seen.
const YNode* ValueAt(const YNode& map, const std::string& key, std::vector<std::string>* keys) {
  for (size_t k = 0; k + 1 < map.kids.size(); k += 2) {
    if (map.kids[k].kind == YNode::Kind::kScalar && map.kids[k].value == key)
      return &map.kids[k + 1];
    if (keys) keys->push_back(map.kids[k].value);
  }
  return nullptr;
}

// The child of `n` a key part names (Kargo's findScalarNode: a mapping's
// first key of that name, a list's index).
Result<const YNode*> Child(const YNode& n, const KeyPart& part, const std::string& here) {
  if (n.kind == YNode::Kind::kMap) {
    std::vector<std::string> keys;
    if (const YNode* v = ValueAt(n, part.name, &keys)) return v;
    return Failf("{} has no key {}{} (only keys that exist are set)", here, Quote(part.name),
                 DidYouMean(part.name, keys));
  }
  if (n.kind == YNode::Kind::kSeq) {
    if (!Digits(part.name))
      return Failf("{} is a list, and {} is not an index", here, Quote(part.name));
    size_t index = std::stoul(part.name);
    if (index >= n.kids.size())
      return Failf("{} has {} items: no index {}", here, n.kids.size(), index);
    return &n.kids[index];
  }
  if (n.kind == YNode::Kind::kAlias) return Failf("{} is an alias: not supported yet", here);
  return Failf("{} is {}, not a mapping or a list", here, KindName(n));
}

Result<const YNode*> Find(const YNode& root, const std::vector<KeyPart>& path) {
  const YNode* n = &root;
  for (size_t i = 0; i < path.size(); ++i) {
    std::string here = i == 0 ? "the document" : Quote(JoinKey(path, i));
    STRAKE_TRY_ASSIGN(next, Child(*n, path[i], here));
    n = next;
  }
  return n;
}

// --- Writing scalars ---------------------------------------------------------

// Whether a plain scalar `s` reads as something but a string: null, a
// boolean (YAML 1.1's yes/no/on/off too, for older readers), a number
// (anything that starts like one).
bool Typed(std::string_view s) {
  static const std::set<std::string, std::less<>> kWords = {
      "~",   "null", "true", "false", "yes",      "no",        "on",
      "off", "y",    "n",    ".inf",  "-.inf",    "+.inf",     ".nan",
      "inf", "+inf", "-inf", "nan",   "infinity", "+infinity", "-infinity"};
  if (kWords.count(ToLower(s))) return true;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (digit(s[0])) return true;
  return (s[0] == '-' || s[0] == '+' || s[0] == '.') && s.size() > 1 &&
         (digit(s[1]) || s[1] == '.');
}

// Whether `s` holds a character a YAML scalar must escape: a control
// character, a line or paragraph separator, a byte order mark, a
// non-character, or bytes that are not UTF-8.
bool NeedsEscape(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return true;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) <= 0x9F) return true;
  }
  for (const char* seq :
       {"\xE2\x80\xA8", "\xE2\x80\xA9", "\xEF\xBB\xBF", "\xEF\xBF\xBE", "\xEF\xBF\xBF"}) {
    if (s.find(seq) != std::string_view::npos) return true;
  }
  return !IsValidUtf8(s);
}

bool PlainOk(std::string_view s, bool flow) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ' || Typed(s) || NeedsEscape(s) ||
      StartsWith(s, "---") || StartsWith(s, "...") || StartsWith(s, "<<")) {
    return false;
  }
  if (std::string_view(",[]{}#&*!|>'\"%@`").find(s[0]) != std::string_view::npos) return false;
  if (std::string_view("-?:").find(s[0]) != std::string_view::npos &&
      (s.size() == 1 || s[1] == ' '))
    return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ':' && (flow || i + 1 == s.size() || s[i + 1] == ' ')) return false;
    if (c == '#' && i > 0 && s[i - 1] == ' ') return false;
    if (flow && std::string_view(",[]{}").find(c) != std::string_view::npos) return false;
  }
  return true;
}

std::string SingleQuoted(std::string_view s) {
  std::string out(s);
  ReplaceAll(out, "'", "''");
  return "'" + out + "'";
}

// `v` in place of the scalar `was`: a string keeps its quotes.
std::string ScalarLike(const Json& v, const YNode& was) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (was.style == YAML_SINGLE_QUOTED_SCALAR_STYLE && !NeedsEscape(s)) return SingleQuoted(s);
    if (was.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE) return model::YamlDoubleQuoted(s);
  }
  return YamlScalar(v, was.flow);
}

// What a scalar reads as (YAML 1.2's core schema, as model::ToJson).
Json ValueOf(const YNode& n) {
  if (n.style != YAML_PLAIN_SCALAR_STYLE) return n.value;
  if (n.value.empty() || n.value == "~" || n.value == "null" || n.value == "Null" ||
      n.value == "NULL") {
    return nullptr;
  }
  model::Node m;
  m.kind = model::Node::Kind::kScalar;
  m.scalar = n.value;
  return model::ToJson(m);
}

bool SameValue(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  return a == b;
}

std::string Splice(std::string_view text, size_t at, size_t end, std::string_view with) {
  std::string out(text.substr(0, at));
  out.append(with);
  out.append(text.substr(end));
  return out;
}

// The check after an edit: the file still reads, and says `value` at `path`.
Status ReadsBack(std::string_view text, const std::vector<KeyPart>& path, const Json& value) {
  auto root = FirstDocument(text);
  if (!root)
    return Failf("the edit would break the file ({}); nothing written", root.error().message);
  STRAKE_TRY_ASSIGN(node, Find(*root, path));
  if (node->kind != YNode::Kind::kScalar || !SameValue(ValueOf(*node), value))
    return Fail("the edited file would not read back the value given; nothing written");
  return Ok();
}

}  // namespace

std::string YamlScalar(const Json& value, bool flow) {
  if (value.is_null()) return "null";
  if (!value.is_string()) return value.dump(-1, ' ', false, Json::error_handler_t::replace);
  const auto& s = value.get_ref<const std::string&>();
  return PlainOk(s, flow) ? s : model::YamlDoubleQuoted(s);
}

Result<std::string> SetYamlValue(std::string_view text, const std::vector<KeyPart>& path,
                                 const Json& value) {
  if (value.is_structured())
    return Fail("the value must be a string, a number, a boolean or null (scalars only)");
  STRAKE_TRY_ASSIGN(root, FirstDocument(text));
  STRAKE_TRY_ASSIGN(target, Find(root, path));
  const std::string key = Quote(JoinKey(path, path.size()));
  if (target->kind != YNode::Kind::kScalar)
    return Failf("{} is {}, not a scalar", key, KindName(*target));
  if (target->props) return Failf("{} has an anchor or a tag: not supported yet", key);
  std::string with = ScalarLike(value, *target);
  // An empty value's mark is just past the colon.
  if (target->start == target->end && target->start > 0 && text[target->start - 1] != ' ')
    with = " " + with;
  std::string out = Splice(text, target->start, target->end, with);
  STRAKE_TRY(ReadsBack(out, path, value));
  return out;
}

// --- kustomize-set-image -------------------------------------------------------

namespace {

bool IsNull(const YNode& n) { return n.kind == YNode::Kind::kScalar && ValueOf(n).is_null(); }

Result<KustomizeImage> ImageOf(const YNode& item, size_t i) {
  if (item.kind != YNode::Kind::kMap) return Failf("images[{}] is not a mapping", i);
  KustomizeImage img;
  for (size_t k = 0; k + 1 < item.kids.size(); k += 2) {
    const std::string& key = item.kids[k].value;
    const YNode& v = item.kids[k + 1];
    std::string* field = key == "name"      ? &img.name
                         : key == "newName" ? &img.new_name
                         : key == "newTag"  ? &img.new_tag
                         : key == "digest"  ? &img.digest
                                            : nullptr;
    if (!field) continue;
    if (v.kind != YNode::Kind::kScalar) return Failf("images[{}].{} is not a scalar", i, key);
    *field = IsNull(v) ? "" : v.value;
  }
  return img;
}

// The `images` of a kustomization: its key and value (nullptr when there is
// none) and the entries.
struct Images {
  const YNode* key = nullptr;
  const YNode* value = nullptr;
  std::vector<KustomizeImage> entries;
};

Result<Images> ImagesOf(const YNode& root) {
  if (root.kind != YNode::Kind::kMap || root.flow)
    return Fail("the kustomization is not a block mapping");
  Images out;
  for (size_t k = 0; k + 1 < root.kids.size(); k += 2) {
    if (root.kids[k].kind == YNode::Kind::kScalar && root.kids[k].value == "images") {
      out.key = &root.kids[k];
      out.value = &root.kids[k + 1];
      break;
    }
  }
  if (!out.value || IsNull(*out.value)) return out;
  if (out.value->kind != YNode::Kind::kSeq) return Fail("images is not a list");
  if (out.value->props) return Fail("images has an anchor or a tag: not supported yet");
  for (size_t i = 0; i < out.value->kids.size(); ++i) {
    STRAKE_TRY_ASSIGN(img, ImageOf(out.value->kids[i], i));
    out.entries.push_back(std::move(img));
  }
  return out;
}

// An entry after the merge: from the file (`origin`, its index) or not.
struct Merged {
  KustomizeImage image;
  int origin = -1;
};

// Kargo's mergeImages: a target replaces the entry of its name, "*" keeps
// the entry's field; the result sorted by name.
std::vector<Merged> Merge(const std::vector<KustomizeImage>& current,
                          const std::vector<KustomizeImage>& targets) {
  std::map<std::string, Merged> by_name;
  for (const auto& t : targets) by_name[t.name] = Merged{t, -1};
  for (size_t k = 0; k < current.size(); ++k) {
    const KustomizeImage& was = current[k];
    auto it = by_name.find(was.name);
    if (it == by_name.end()) {
      by_name[was.name] = Merged{was, static_cast<int>(k)};
      continue;
    }
    KustomizeImage t = it->second.image;
    if (t.new_name == "*") t.new_name = was.new_name;
    if (t.new_tag == "*") t.new_tag = was.new_tag;
    if (t.digest == "*") t.digest = was.digest;
    it->second = Merged{t, static_cast<int>(k)};
  }
  std::vector<Merged> out;
  for (auto& [name, m] : by_name) {
    for (std::string* f : {&m.image.new_name, &m.image.new_tag, &m.image.digest}) {
      if (*f == "*") f->clear();
    }
    out.push_back(m);
  }
  return out;
}

std::string Render(const KustomizeImage& img, const std::string& ind) {
  std::string out = fmt::format("{}- name: {}\n", ind, YamlScalar(Json(img.name)));
  auto field = [&](const char* key, const std::string& v) {
    if (!v.empty()) out += fmt::format("{}  {}: {}\n", ind, key, YamlScalar(Json(v)));
  };
  field("newName", img.new_name);
  field("newTag", img.new_tag);
  field("digest", img.digest);
  return out;
}

size_t LineStart(std::string_view t, size_t p) {
  if (p == 0) return 0;
  size_t nl = t.rfind('\n', p - 1);
  return nl == std::string_view::npos ? 0 : nl + 1;
}

size_t NextLine(std::string_view t, size_t p) {
  size_t nl = t.find('\n', p);
  return nl == std::string_view::npos ? t.size() : nl + 1;
}

bool AllSpaces(std::string_view s) { return s.find_first_not_of(' ') == std::string_view::npos; }

// The lines of a block list, each item's (its comments after it included)
// when every item starts on its dash's line; the indentation of its dashes.
struct Block {
  size_t begin = 0;
  size_t end = 0;
  std::string ind;
  std::vector<std::string> items;  // empty when the items cannot be kept as they are
};

Block BlockOf(std::string_view t, const YNode& seq) {
  Block b;
  b.begin = LineStart(t, seq.start);
  std::string_view ind = t.substr(b.begin, seq.start - b.begin);
  if (AllSpaces(ind)) b.ind = std::string(ind);
  b.end = NextLine(t, seq.end);
  for (size_t k = 0; k < seq.kids.size(); ++k) {
    size_t from = LineStart(t, seq.kids[k].start);
    size_t to = k + 1 < seq.kids.size() ? LineStart(t, seq.kids[k + 1].start) : b.end;
    std::string_view lead = Trim(t.substr(from, seq.kids[k].start - from));
    if (lead != "-" || to <= from) {
      b.items.clear();
      return b;
    }
    std::string item(t.substr(from, to - from));
    if (item.back() != '\n') item += '\n';
    b.items.push_back(std::move(item));
  }
  return b;
}

std::string Entries(const std::vector<Merged>& merged, const std::vector<KustomizeImage>& current,
                    const Block& block) {
  std::string out;
  for (const auto& m : merged) {
    bool keep = m.origin >= 0 && static_cast<size_t>(m.origin) < block.items.size() &&
                m.image == current[static_cast<size_t>(m.origin)];
    out += keep ? block.items[static_cast<size_t>(m.origin)] : Render(m.image, block.ind);
  }
  return out;
}

// The text with its images block replaced by the merged entries.
std::string Rewrite(std::string_view t, const YNode& root, const Images& images,
                    const std::vector<Merged>& merged) {
  if (!images.key) {
    // A new key after the first document's last line, at its keys' indentation.
    const YNode& first = root.kids.front();
    Block block;
    std::string_view ind =
        t.substr(LineStart(t, first.start), first.start - LineStart(t, first.start));
    if (AllSpaces(ind)) block.ind = std::string(ind);
    size_t at = NextLine(t, root.end);
    std::string add = (at > 0 && t[at - 1] != '\n') ? "\n" : "";
    add += block.ind + "images:\n" + Entries(merged, images.entries, block);
    return Splice(t, at, at, add);
  }
  const YNode& value = *images.value;
  if (value.kind == YNode::Kind::kSeq && !value.flow && !value.kids.empty()) {
    Block block = BlockOf(t, value);
    return Splice(t, block.begin, block.end, Entries(merged, images.entries, block));
  }
  // null, [] or a flow list: from the key's end to its value's line's end.
  Block block;
  size_t key_line = LineStart(t, images.key->start);
  std::string_view ind = t.substr(key_line, images.key->start - key_line);
  if (AllSpaces(ind)) block.ind = std::string(ind);
  size_t end = NextLine(t, value.end);
  if (end > 0 && t[end - 1] == '\n') --end;
  std::string entries = Entries(merged, images.entries, block);
  entries.pop_back();  // the line's own newline follows
  return Splice(t, images.key->end, end, ":\n" + entries);
}

// The check after the edit: the file reads back with these images, and
// every other field as before.
Status KustomizeReadsBack(std::string_view before, std::string_view after,
                          const std::vector<KustomizeImage>& want) {
  auto root = FirstDocument(after);
  if (!root)
    return Failf("the edit would break the file ({}); nothing written", root.error().message);
  STRAKE_TRY_ASSIGN(images, ImagesOf(*root));
  auto a = model::ParseYaml(before, "before");
  auto b = model::ParseYaml(after, "after");
  bool same = a && b && a->size() == b->size() && images.entries == want;
  for (size_t i = 0; same && i < a->size(); ++i) {
    Json ja = model::ToJson((*a)[i].root), jb = model::ToJson((*b)[i].root);
    if (i == 0 && ja.is_object() && jb.is_object()) {
      ja.erase("images");
      jb.erase("images");
    }
    same = ja == jb;
  }
  if (!same) return Fail("the edited kustomization would not read back as asked; nothing written");
  return Ok();
}

}  // namespace

Result<KustomizeEdit> SetKustomizeImages(std::string_view text,
                                         const std::vector<KustomizeImage>& targets) {
  STRAKE_TRY_ASSIGN(root, FirstDocument(text));
  STRAKE_TRY_ASSIGN(images, ImagesOf(root));
  if (root.kids.empty()) return Fail("the kustomization is empty");
  std::vector<Merged> merged = Merge(images.entries, targets);
  KustomizeEdit edit;
  edit.text = Rewrite(text, root, images, merged);
  for (const auto& m : merged) edit.images.push_back(m.image);
  STRAKE_TRY(KustomizeReadsBack(text, edit.text, edit.images));
  return edit;
}

}  // namespace strake::delivery
