#include "pipeline/substitute.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/strings.h"

namespace strake::pipeline {

namespace {

const char* const kRoots[] = {"params.",      "params[",        "tasks.",    "context.",
                              "workspaces.",  "results.",       "steps.",    "step.",
                              "credentials.", "inputs.params.", "artifacts."};

bool HasRoot(std::string_view expr) {
  for (const char* r : kRoots) {
    if (expr.starts_with(r)) return true;
  }
  return false;
}

// params["a.b"] / params['a.b'] -> params.a.b handled by keeping the bracket
// name whole: base = "params." + name.
bool Parse(std::string_view expr, Reference& ref) {
  ref.expr = std::string(expr);
  std::string_view rest = expr;
  // The legacy form Tekton still substitutes: $(inputs.params.x) is $(params.x).
  if (rest.starts_with("inputs.params.")) rest.remove_prefix(7);
  std::string base;
  if (rest.starts_with("params[")) {
    char q = rest.size() > 7 ? rest[7] : '\0';
    if (q != '"' && q != '\'') return false;
    size_t end = rest.find(q, 8);
    if (end == std::string_view::npos || end + 1 >= rest.size() || rest[end + 1] != ']') {
      return false;
    }
    base = "params." + std::string(rest.substr(8, end - 8));
    rest = rest.substr(end + 2);
  } else {
    size_t i = 0;
    while (i < rest.size() && rest[i] != '[') ++i;
    base = std::string(rest.substr(0, i));
    rest = rest.substr(i);
  }
  ref.base = base;
  if (rest.empty()) return true;
  if (rest == "[*]") {
    ref.index = Reference::Index::kStar;
    return true;
  }
  if (rest.front() == '[' && rest.back() == ']') {
    std::string_view num = rest.substr(1, rest.size() - 2);
    if (num.empty()) return false;
    size_t n = 0;
    for (char c : num) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + static_cast<size_t>(c - '0');
    }
    ref.index = Reference::Index::kNumber;
    ref.number = n;
    return true;
  }
  return false;
}

// Finds "$(" ... ")" spans with a Tekton root. Calls fn(start, end, ref).
template <typename Fn>
void Scan(std::string_view s, Fn&& fn) {
  size_t pos = 0;
  while ((pos = s.find("$(", pos)) != std::string_view::npos) {
    size_t close = s.find(')', pos + 2);
    if (close == std::string_view::npos) return;
    std::string_view expr = s.substr(pos + 2, close - pos - 2);
    Reference ref;
    if (HasRoot(expr) && expr.find("$(") == std::string_view::npos && Parse(expr, ref)) {
      fn(pos, close + 1, ref);
      pos = close + 1;
    } else {
      pos += 2;
    }
  }
}

}  // namespace

void Vars::Set(const std::string& name, const ParamValue& value) { values_[name] = value; }

const ParamValue* Vars::Find(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? nullptr : &it->second;
}

bool Vars::Has(const std::string& base) const {
  if (Find(base)) return true;
  size_t dot = base.rfind('.');
  if (dot == std::string::npos) return false;
  const ParamValue* obj = Find(base.substr(0, dot));
  return obj && obj->type == model::ParamType::kObject && obj->obj.count(base.substr(dot + 1));
}

std::vector<Reference> FindReferences(std::string_view s) {
  std::vector<Reference> out;
  Scan(s, [&](size_t, size_t, const Reference& r) { out.push_back(r); });
  return out;
}

// Resolves a reference to a value; nullptr if unknown. Object keys come as
// "params.obj.key": if the whole name is unknown, try the object prefix.
static Result<const ParamValue*> Lookup(const Reference& ref, const Vars& vars, ParamValue& tmp) {
  if (const ParamValue* v = vars.Find(ref.base)) return v;
  size_t dot = ref.base.rfind('.');
  if (dot != std::string::npos && ref.index == Reference::Index::kNone) {
    if (const ParamValue* obj = vars.Find(ref.base.substr(0, dot))) {
      if (obj->type == model::ParamType::kObject) {
        std::string key = ref.base.substr(dot + 1);
        auto it = obj->obj.find(key);
        if (it == obj->obj.end()) {
          return Failf("$({}): object has no key \"{}\"", ref.expr, key);
        }
        tmp = ParamValue::String(it->second);
        return &tmp;
      }
    }
  }
  return static_cast<const ParamValue*>(nullptr);
}

std::string RenameReferences(std::string_view s,
                             const std::map<std::string, std::string>& renames) {
  std::string out;
  size_t last = 0;
  Scan(s, [&](size_t start, size_t end, const Reference& ref) {
    // The base itself, or an object key of it ("params.obj.key").
    auto it = std::find_if(renames.begin(), renames.end(), [&](const auto& r) {
      return ref.base == r.first ||
             (StartsWith(ref.base, r.first) && ref.base[r.first.size()] == '.');
    });
    if (it == renames.end()) return;
    std::string suffix = ref.base.substr(it->first.size());
    if (ref.index == Reference::Index::kStar) suffix += "[*]";
    if (ref.index == Reference::Index::kNumber) suffix += fmt::format("[{}]", ref.number);
    out.append(s.substr(last, start - last));
    out += "$(" + it->second + suffix + ")";
    last = end;
  });
  out.append(s.substr(last));
  return out;
}

Result<std::string> Substitute(std::string_view s, const Vars& vars) {
  std::string out;
  size_t last = 0;
  Status err = Ok();
  Scan(s, [&](size_t start, size_t end, const Reference& ref) {
    if (!err) return;
    ParamValue tmp;
    auto found = Lookup(ref, vars, tmp);
    if (!found) {
      err = tl::unexpected(found.error());
      return;
    }
    const ParamValue* v = *found;
    if (!v) return;  // Unknown: left as written.
    std::string text;
    switch (ref.index) {
      case Reference::Index::kNone:
        if (v->type != model::ParamType::kString) {
          err =
              Failf("$({}) is an {} and cannot be used in a string{}", ref.expr,
                    model::ParamTypeName(v->type),
                    v->type == model::ParamType::kArray ? " (use [*] as a whole list item, or [i])"
                                                        : " (use .key)");
          return;
        }
        text = v->str;
        break;
      case Reference::Index::kStar:
        err = Failf("$({}) expands to a list and must stand alone as a list item", ref.expr);
        return;
      case Reference::Index::kNumber:
        if (v->type != model::ParamType::kArray) {
          err = Failf("$({}): only arrays can be indexed", ref.expr);
          return;
        }
        if (ref.number >= v->arr.size()) {
          err = Failf("$({}): index {} is out of range (the array has {} items)", ref.expr,
                      ref.number, v->arr.size());
          return;
        }
        text = v->arr[ref.number];
        break;
      case Reference::Index::kKey:
        break;
    }
    out.append(s.substr(last, start - last));
    out += text;
    last = end;
  });
  if (!err) return tl::unexpected(err.error());
  out.append(s.substr(last));
  return out;
}

Result<std::vector<std::string>> SubstituteList(const std::vector<std::string>& items,
                                                const Vars& vars) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    auto refs = FindReferences(item);
    if (refs.size() == 1 && item == "$(" + refs[0].expr + ")" &&
        (refs[0].index == Reference::Index::kStar || refs[0].index == Reference::Index::kNone)) {
      if (const ParamValue* v = vars.Find(refs[0].base); v && v->type == model::ParamType::kArray) {
        out.insert(out.end(), v->arr.begin(), v->arr.end());
        continue;
      }
    }
    auto s = Substitute(item, vars);
    if (!s) return tl::unexpected(s.error());
    out.push_back(std::move(*s));
  }
  return out;
}

Result<ParamValue> SubstituteValue(const ParamValue& v, const Vars& vars) {
  ParamValue out = v;
  switch (v.type) {
    case model::ParamType::kString: {
      // A string that is exactly one array/object reference takes its type,
      // as Tekton does for "value: $(params.arr[*])" and "$(tasks.t.results.obj[*])".
      auto refs = FindReferences(v.str);
      if (refs.size() == 1 && v.str == "$(" + refs[0].expr + ")") {
        const ParamValue* whole = vars.Find(refs[0].base);
        if (whole && whole->type != model::ParamType::kString &&
            (refs[0].index == Reference::Index::kStar ||
             refs[0].index == Reference::Index::kNone)) {
          return *whole;
        }
      }
      auto s = Substitute(v.str, vars);
      if (!s) return tl::unexpected(s.error());
      out.str = std::move(*s);
      break;
    }
    case model::ParamType::kArray: {
      auto a = SubstituteList(v.arr, vars);
      if (!a) return tl::unexpected(a.error());
      out.arr = std::move(*a);
      break;
    }
    case model::ParamType::kObject:
      for (auto& [k, val] : out.obj) {
        auto s = Substitute(val, vars);
        if (!s) return tl::unexpected(s.error());
        val = std::move(*s);
      }
      break;
  }
  return out;
}

}  // namespace strake::pipeline
