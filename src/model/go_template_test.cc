#include "model/go_template.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace strake::model {
namespace {

// The output of `text` over `data`, or "parse: …" / "exec: …" and the error.
std::string Render(std::string_view text, const Json& data = Json::object(),
                   const GoTemplateFuncs& funcs = {}) {
  auto t = GoTemplate::Parse(text, "t", funcs);
  if (!t) return "parse: " + t.error().message;
  auto out = t->Execute(data);
  if (!out) return "exec: " + out.error().message;
  return *out;
}

Error ParseError(std::string_view text, const std::string& name = "t") {
  auto t = GoTemplate::Parse(text, name);
  EXPECT_FALSE(t) << "parsed: " << text;
  return t ? Error{} : t.error();
}

Error ExecError(std::string_view text, const Json& data = Json::object(),
                const GoTemplateFuncs& funcs = {}) {
  auto t = GoTemplate::Parse(text, "t", funcs);
  EXPECT_TRUE(t) << t.error().message;
  if (!t) return Error{};
  auto out = t->Execute(data);
  EXPECT_FALSE(out) << "rendered: " << *out;
  return out ? Error{} : out.error();
}

// An Argo CD Application as the notifications controller passes it.
Json App() {
  return Json::parse(R"({
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "guestbook", "namespace": "argocd"},
    "spec": {"source": {"repoURL": "https://github.com/argoproj/argocd-example-apps.git"}},
    "status": {
      "sync": {"status": "Synced", "revision": "abc123"},
      "health": {"status": "Healthy"},
      "operationState": {
        "phase": "Succeeded",
        "finishedAt": "2026-12-07T10:00:00Z",
        "syncResult": {"revision": "abc123"}
      }
    }
  })");
}

Json AppData(const std::string& service_type = "slack") {
  return Json{{"app", App()},
              {"context",
               {{"argocdUrl", "https://argocd.example.com"}, {"notificationType", service_type}}},
              {"serviceType", service_type}};
}

Json List() { return Json::parse(R"({"l": [1, 2, 3], "m": {"b": 2, "a": 1, "c": 3}})"); }

// ---- text, fields, variables ------------------------------------------------------

TEST(GoTemplate, TextAndFieldsRender) {
  EXPECT_EQ(Render("plain text"), "plain text");
  EXPECT_EQ(Render("{{.app.metadata.name}}/{{.app.status.health.status}}", AppData()),
            "guestbook/Healthy");
  EXPECT_EQ(Render("{{ . }}", Json("dot")), "dot");
  EXPECT_EQ(Render("{{ $.a }}", Json{{"a", 1}}), "1");
  EXPECT_EQ(Render(""), "");
}

TEST(GoTemplate, TrimMarkersRemoveAllAdjacentWhitespace) {
  Json x = {{"x", "X"}};
  EXPECT_EQ(Render("a  \n\t {{- .x -}} \n  b", x), "aXb");
  EXPECT_EQ(Render("a {{- .x }} b", x), "aX b");
  EXPECT_EQ(Render("a {{ .x -}}\n\n b", x), "a Xb");
  EXPECT_EQ(Render("{{-3}}"), "-3");  // a minus without a space is a number
  EXPECT_EQ(Render("{{ 3 -}}  x"), "3x");
}

TEST(GoTemplate, CommentsPrintNothing) {
  EXPECT_EQ(Render("a{{/* a comment */}}b"), "ab");
  EXPECT_EQ(Render("a {{- /* trimmed\n over lines */ -}} b"), "ab");
  EXPECT_EQ(ParseError("{{/* open").message, "template: t:1:1: unclosed comment");
  EXPECT_EQ(ParseError("{{/* x */ .a}}").message,
            "template: t:1:1: comment ends before closing delimiter");
}

TEST(GoTemplate, AMissingKeyPrintsNoValueAndIsFalse) {
  EXPECT_EQ(Render("{{.missing}}"), "<no value>");
  EXPECT_EQ(Render("{{if .missing}}yes{{else}}no{{end}}"), "no");
  // A field of no value is no value, as for Go's map[string]interface{}.
  EXPECT_EQ(Render("{{.missing.deeper.still}}"), "<no value>");
  // A null prints the same, but a field of it is an error, as in Go.
  EXPECT_EQ(Render("{{.a}}", Json{{"a", nullptr}}), "<no value>");
  EXPECT_EQ(Render("{{.}} {{.a}}", Json()), "<no value> <no value>");  // null data is Go's nil
  EXPECT_EQ(ExecError("{{.a.b}}", Json{{"a", nullptr}}).message,
            "template: t:1:3: executing \"t\" at <.a.b>: nil pointer evaluating interface {}.b");
}

TEST(GoTemplate, AFieldOfANonObjectIsAnError) {
  EXPECT_EQ(ExecError("{{.a.b}}", Json{{"a", "text"}}).message,
            "template: t:1:3: executing \"t\" at <.a.b>: can't evaluate field b in type string");
  EXPECT_EQ(ExecError("{{.a.b}}", Json{{"a", Json::array({1})}}).message,
            "template: t:1:3: executing \"t\" at <.a.b>: can't evaluate field b in type "
            "[]interface {}");
}

TEST(GoTemplate, VariablesAreDeclaredAssignedAndScoped) {
  EXPECT_EQ(Render("{{$x := .a}}{{$x}}", Json{{"a", 1}}), "1");
  EXPECT_EQ(Render("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}"), "2");
  EXPECT_EQ(Render("{{$m := .m}}{{$m.a}}", List()), "1");
  EXPECT_EQ(Render("{{with $n := .app.metadata.name}}{{$n}}{{end}}", AppData()), "guestbook");
  EXPECT_EQ(ParseError("{{if true}}{{$y := 1}}{{end}}{{$y}}").message,
            "template: t:1:32: undefined variable \"$y\"");
  EXPECT_EQ(ParseError("{{$z = 1}}").message, "template: t:1:3: undefined variable \"$z\"");
  EXPECT_EQ(ParseError("{{with $a, $b := .x}}{{end}}").message,
            "template: t:1:10: too many declarations in with");
}

TEST(GoTemplate, PipelinesPassTheValueAsTheLastArgument) {
  EXPECT_EQ(Render("{{ \"abc\" | upper }}"), "ABC");
  EXPECT_EQ(Render("{{ .n | add 1 | printf \"%03d\" }}", Json{{"n", 4}}), "005");
  EXPECT_EQ(Render("{{ \"x\" | printf \"%s-%s\" \"a\" }}"), "a-x");
  EXPECT_EQ(ParseError("{{ .a | \"x\" }}").message,
            "template: t:1:9: non executable command in pipeline stage 2");
  EXPECT_EQ(ExecError("{{ .a 1 }}").message,
            "template: t:1:4: executing \"t\" at <.a 1>: can't give argument to non-function .a");
}

TEST(GoTemplate, ParenthesizedPipelinesAndTheirFields) {
  Json data = Json::parse(R"({"list": [{"name": "a"}, {"name": "b"}]})");
  EXPECT_EQ(Render("{{ (index .list 1).name }}", data), "b");
  EXPECT_EQ(Render("{{ printf \"%d+%d\" (len .list) (add 1 (len .list)) }}", data), "2+3");
  EXPECT_EQ(Render("{{ (dict \"k\" (list 1 2)).k }}"), "[1 2]");
  EXPECT_EQ(ParseError("{{ \"s\".x }}").message,
            "template: t:1:7: unexpected . after term \"\\\"s\\\"\"");
}

// ---- control structures ---------------------------------------------------------------

TEST(GoTemplate, IfElseIfElse) {
  std::string text = R"({{if eq .s "a"}}A{{else if eq .s "b"}}B{{else}}C{{end}})";
  EXPECT_EQ(Render(text, Json{{"s", "a"}}), "A");
  EXPECT_EQ(Render(text, Json{{"s", "b"}}), "B");
  EXPECT_EQ(Render(text, Json{{"s", "z"}}), "C");
  EXPECT_EQ(Render("{{if .a}}yes{{end}}", Json{{"a", true}}), "yes");
}

TEST(GoTemplate, WithSetsTheDotAndElseWithChains) {
  EXPECT_EQ(Render("{{with .app.metadata}}{{.name}}{{end}}", AppData()), "guestbook");
  EXPECT_EQ(Render("{{with .missing}}x{{else}}none{{end}}"), "none");
  std::string text = "{{with .a}}A{{else with .b}}B={{.}}{{else}}C{{end}}";
  EXPECT_EQ(Render(text, Json{{"b", 2}}), "B=2");
  EXPECT_EQ(Render(text, Json{{"a", 1}}), "A");
  EXPECT_EQ(Render(text, Json::object()), "C");
}

TEST(GoTemplate, RangeOverArraysAndObjectsInSortedKeyOrder) {
  EXPECT_EQ(Render("{{range .l}}[{{.}}]{{end}}", List()), "[1][2][3]");
  EXPECT_EQ(Render("{{range $i, $e := .l}}{{$i}}={{$e}};{{end}}", List()), "0=1;1=2;2=3;");
  EXPECT_EQ(Render("{{range $k, $v := .m}}{{$k}}:{{$v}} {{end}}", List()), "a:1 b:2 c:3 ");
  EXPECT_EQ(Render("{{range $v := .m}}{{$v}}{{end}}", List()), "123");
  EXPECT_EQ(Render("{{range .l}}{{$.m.a}}{{end}}", List()), "111");
  EXPECT_EQ(Render("{{range 3}}{{.}}{{end}}"), "012");
  EXPECT_EQ(Render("{{$i := 0}}{{range .l}}{{$i = .}}{{end}}{{$i}}", List()), "3");
  EXPECT_EQ(ExecError("{{range .s}}{{end}}", Json{{"s", "abc"}}).message,
            "template: t:1:9: executing \"t\" at <.s>: range can't iterate over abc");
}

TEST(GoTemplate, RangeElseRunsWhenThereIsNothingToIterate) {
  std::string text = "{{range .l}}x{{else}}none{{end}}";
  EXPECT_EQ(Render(text, Json{{"l", Json::array()}}), "none");
  EXPECT_EQ(Render(text, Json{{"l", Json::object()}}), "none");
  EXPECT_EQ(Render(text, Json::object()), "none");
  EXPECT_EQ(Render(text, Json{{"l", nullptr}}), "none");
}

TEST(GoTemplate, BreakAndContinueLeaveTheInnermostRange) {
  Json data = {{"l", {1, 2, 3, 4}}};
  EXPECT_EQ(Render("{{range .l}}{{if eq . 3}}{{break}}{{end}}{{if eq . 1}}{{continue}}{{end}}"
                   "{{.}}{{end}}",
                   data),
            "2");
  EXPECT_EQ(Render("{{range .l}}{{range $.l}}{{break}}{{end}}{{.}}{{end}}", data), "1234");
  EXPECT_EQ(ParseError("{{break}}").message, "template: t:1:3: {{break}} outside {{range}}");
  EXPECT_EQ(ParseError("{{range .l}}{{else}}{{continue}}{{end}}").message,
            "template: t:1:23: {{continue}} outside {{range}}");
}

TEST(GoTemplate, DefineTemplateAndBlock) {
  EXPECT_EQ(
      Render(R"({{define "item"}}<{{.}}>{{end}}{{range .l}}{{template "item" .}}{{end}})", List()),
      "<1><2><3>");
  EXPECT_EQ(Render(R"({{block "greet" .name}}Hello {{.}}{{end}}!)", Json{{"name", "Ann"}}),
            "Hello Ann!");
  EXPECT_EQ(Render(R"({{define "c"}}[{{.}}]{{end}}{{template "c"}})"), "[<no value>]");
  EXPECT_EQ(Render(R"({{define "d"}}{{$.k}}{{end}}{{template "d" .inner}})",
                   Json{{"inner", {{"k", "v"}}}}),
            "v");
  EXPECT_EQ(Render(R"({{define "only"}}X{{end}})"), "");
  // A defined template sees only its dot: no variables of its caller.
  EXPECT_EQ(ParseError(R"({{$x := 1}}{{define "t2"}}{{$x}}{{end}})").message,
            "template: t:1:29: undefined variable \"$x\"");
  EXPECT_EQ(ParseError(R"({{define "a"}}x{{end}}{{define "a"}}y{{end}})").message,
            "template: t:1:32: template: multiple definition of template \"a\"");
  EXPECT_EQ(ExecError(R"({{template "nope"}})").message,
            "template: t:1:3: executing \"t\" at <template \"nope\">: template \"nope\" not "
            "defined");
}

// ---- literals, truth, printing -----------------------------------------------------------

TEST(GoTemplate, LiteralsOfEveryKind) {
  EXPECT_EQ(Render(R"({{"a\tb\x41\u00e9\101\""}})"),
            "a\tbA\xC3\xA9"
            "A\"");
  EXPECT_EQ(Render(R"({{`raw\n`}})"), R"(raw\n)");
  EXPECT_EQ(Render(R"({{'a'}} {{'\n'}} {{'é'}} {{'\x41'}})"), "97 10 233 65");
  EXPECT_EQ(Render("{{0x1F}} {{0o17}} {{017}} {{0b101}} {{1_000}} {{-42}} {{+7}}"),
            "31 15 15 5 1000 -42 7");
  EXPECT_EQ(Render("{{1.5}} {{1e3}} {{.5}} {{1e6}} {{-2.50}}"), "1.5 1000 0.5 1e+06 -2.5");
  EXPECT_EQ(Render("{{true}} {{false}} {{print nil}}"), "true false <nil>");
  EXPECT_EQ(ExecError("{{nil}}").message,
            "template: t:1:3: executing \"t\" at <nil>: nil is not a command");
  EXPECT_EQ(ParseError("{{9223372036854775808}}").message,
            "template: t:1:3: 9223372036854775808 overflows int");
  EXPECT_EQ(ParseError("{{1x}}").message, "template: t:1:3: bad number syntax: \"1x\"");
  EXPECT_EQ(ParseError(R"({{"\q"}})").message,
            "template: t:1:3: invalid syntax in string literal \"\\q\"");
}

TEST(GoTemplate, TruthIsGos) {
  Json falsy = Json::parse(R"([false, 0, 0.0, "", [], {}, null])");
  Json truthy = Json::parse(R"([true, 1, -1, 0.5, "0", [0], {"a": null}])");
  for (const Json& v : falsy)
    EXPECT_EQ(Render("{{if .v}}T{{else}}F{{end}}", Json{{"v", v}}), "F") << v;
  for (const Json& v : truthy)
    EXPECT_EQ(Render("{{if .v}}T{{else}}F{{end}}", Json{{"v", v}}), "T") << v;
  EXPECT_EQ(Render("{{if .missing}}T{{else}}F{{end}}"), "F");
  EXPECT_EQ(Render("{{not 0}} {{not \"x\"}}"), "true false");
}

TEST(GoTemplate, ValuesPrintAsFmtPrintsThem) {
  Json data = Json::parse(R"({"i": 42, "f": 78.3, "big": 1000000.0, "k": 100000.0,
    "odd": 1234567.0, "small": 0.0001, "tiny": 0.00001, "two": 2.0, "neg": -0.5,
    "arr": [1, "a", true, null, 2.5], "obj": {"b": 1, "a": [1, 2]}, "nested": [{"k": "v"}]})");
  EXPECT_EQ(
      Render("{{.i}} {{.f}} {{.big}} {{.k}} {{.odd}} {{.small}} {{.tiny}} {{.two}} {{.neg}}", data),
      "42 78.3 1e+06 100000 1.234567e+06 0.0001 1e-05 2 -0.5");
  EXPECT_EQ(Render("{{.arr}} {{.obj}} {{.nested}}", data),
            "[1 a true <nil> 2.5] map[a:[1 2] b:1] [map[k:v]]");
}

// ---- Go's functions ----------------------------------------------------------------------

TEST(GoTemplate, AndOrShortCircuitAndYieldTheDecidingOperand) {
  EXPECT_EQ(Render("{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" \"x\" \"y\"}} [{{or 0 \"\"}}]"),
            "0 2 x []");
  // Evaluating the index would fail: the first operand decides.
  EXPECT_EQ(Render("{{or 1 (index .l 10)}} {{and 0 (index .l 10)}}", List()), "1 0");
  EXPECT_EQ(Render("{{ 0 | or \"p\" }} {{ .missing | and 1 }}"), "p <no value>");
}

TEST(GoTemplate, ComparisonsFollowGoAndNumbersCompareByValue) {
  EXPECT_EQ(
      Render("{{eq 1 1}} {{eq 1 1.0}} {{eq \"a\" \"b\" \"a\"}} {{eq \"a\" \"b\"}} {{ne 1 2}}"),
      "true true true false true");
  EXPECT_EQ(Render("{{lt 1 2}} {{lt 1.5 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1 2}}"),
            "true true true true false");
  EXPECT_EQ(Render("{{eq .missing \"x\"}} {{eq nil nil}} {{eq .app.status.sync.status \"Synced\"}}",
                   AppData()),
            "false true true");
  EXPECT_EQ(
      ExecError("{{eq \"1\" 1}}").message,
      "template: t:1:3: executing \"t\" at <eq \"1\" 1>: error calling eq: incompatible types "
      "for comparison");
  EXPECT_EQ(
      ExecError("{{lt true false}}").message,
      "template: t:1:3: executing \"t\" at <lt true false>: error calling lt: invalid type for "
      "comparison");
  EXPECT_EQ(ExecError("{{eq .l .l}}", List()).message,
            "template: t:1:3: executing \"t\" at <eq .l .l>: error calling eq: non-comparable type "
            "[]interface {}");
  EXPECT_EQ(ExecError("{{eq 1}}").message,
            "template: t:1:3: executing \"t\" at <eq 1>: error calling eq: missing argument for "
            "comparison");
}

TEST(GoTemplate, LenIndexAndSlice) {
  Json data =
      Json::parse(R"({"l": [1, 2, 3], "m": {"k": "v"}, "n": [{"k": "deep"}], "s": "héllo"})");
  EXPECT_EQ(Render("{{len .s}} {{len .l}} {{len .m}}", data), "6 3 1");
  EXPECT_EQ(
      Render("{{index .l 1}} {{index .m \"k\"}} {{index .n 0 \"k\"}} {{index \"abc\" 1}}", data),
      "2 v deep 98");
  EXPECT_EQ(Render("{{index .m \"missing\"}}", data), "<no value>");
  EXPECT_EQ(Render("{{slice \"abcdef\" 1 3}} {{slice .l 1}} {{slice .l 1 2 3}} {{slice .l}}", data),
            "bc [2 3] [2] [1 2 3]");
  EXPECT_EQ(ExecError("{{index .l 5}}", data).message,
            "template: t:1:3: executing \"t\" at <index .l 5>: error calling index: index out of "
            "range: 5");
  EXPECT_EQ(ExecError("{{len 3}}").message,
            "template: t:1:3: executing \"t\" at <len 3>: error calling len: len of type int");
  EXPECT_EQ(ExecError("{{slice \"abc\" 2 1}}").message,
            "template: t:1:3: executing \"t\" at <slice \"abc\" 2 1>: error calling slice: invalid "
            "slice index: 2 > 1");
  EXPECT_EQ(
      ExecError("{{len}}").message,
      "template: t:1:3: executing \"t\" at <len>: wrong number of args for len: want 1 got 0");
}

TEST(GoTemplate, PrintPrintfAndPrintln) {
  EXPECT_EQ(Render("{{print 1 2 \"a\" \"b\" 3}}|{{println 1 \"a\"}}|"), "1 2ab3|1 a\n|");
  EXPECT_EQ(
      Render(
          R"({{printf "%s|%d|%v|%q|%.2f|%5d|%-5s|%x|%t|%%" "s" 42 .l "q" 3.14159 7 "ab" 255 true}})",
          List()),
      "s|42|[1 2 3]|\"q\"|3.14|    7|ab   |ff|true|%");
  EXPECT_EQ(
      Render(
          R"({{printf "%v %e %g %6.2f %05d %+d %x %X %c %T %T" 1e6 1e6 1e6 3.14159 42 5 "hi" 255 65 1 .l}})",
          List()),
      "1e+06 1.000000e+06 1e+06   3.14 00042 +5 6869 FF A int []interface {}");
  EXPECT_EQ(
      Render(R"({{printf "%d" "x"}} {{printf "%d"}} {{printf "x" 1}} {{printf "%v %s" nil nil}})"),
      "%!d(string=x) %!d(MISSING) x%!(EXTRA int=1) <nil> %!s(<nil>)");
  EXPECT_EQ(Render(R"({{printf "%s" .l}} {{printf "%q" .q}} {{printf "%.3s" "abcdef"}})",
                   Json{{"l", {"a", "b"}}, {"q", {"x"}}}),
            "[a b] [\"x\"] abc");
}

TEST(GoTemplate, HtmlJsAndUrlqueryEscape) {
  EXPECT_EQ(Render(R"({{html "<a href=\"x\">'&'</a>"}})"),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(Render(R"({{js "it's <b>\"x\"</b> a=b & c\\d"}})"),
            R"(it\'s \u003Cb\u003E\"x\"\u003C/b\u003E a\u003Db \u0026 c\\d)");
  EXPECT_EQ(Render(R"({{urlquery "a b&c=d/é"}})"), "a+b%26c%3Dd%2F%C3%A9");
  EXPECT_EQ(Render("{{html .missing}} {{urlquery 1 2}}"), "&lt;no value&gt; 1+2");
  EXPECT_EQ(Render("{{js \"\\u2028\"}}"), "\\u2028");
}

// ---- Sprig --------------------------------------------------------------------------------

TEST(GoTemplate, SprigStringFunctions) {
  EXPECT_EQ(
      Render(
          R"({{upper "abc"}} {{lower "ABC"}} {{title "hello wORLD foo-bar"}} [{{trim "  x  "}}])"),
      "ABC abc Hello WORLD Foo-Bar [x]");
  EXPECT_EQ(
      Render(
          R"({{trimAll "$" "$$5.00$"}} {{trimPrefix "v" "v1.2"}} {{trimSuffix ".git" "repo.git"}})"),
      "5.00 1.2 repo");
  EXPECT_EQ(
      Render(
          R"({{replace "-" "_" "a-b-c"}} {{contains "ell" "hello"}} {{hasPrefix "he" "hello"}} {{hasSuffix "x" "hello"}})"),
      "a_b_c true true false");
  EXPECT_EQ(Render(R"({{quote "a" 1 .missing}} {{squote "a"}} {{repeat 3 "ab"}})"),
            R"("a" "1" 'a' ababab)");
  EXPECT_EQ(
      Render(
          R"({{substr 1 3 "hello"}} {{substr 2 -1 "hello"}} {{trunc 3 "hello"}} {{trunc -2 "hello"}} {{abbrev 5 "hello world"}})"),
      "el llo hel lo he...");
  EXPECT_EQ(
      Render(
          R"([{{nospace " a b \t c "}}] [{{indent 2 "a\nb"}}] [{{nindent 2 "a"}}] [{{cat "a" 1 .missing "b"}}])"),
      "[abc] [  a\n  b] [\n  a] [a 1 b]");
  EXPECT_EQ(ExecError("{{upper 5}}").message,
            "template: t:1:3: executing \"t\" at <upper 5>: error calling upper: wrong type for "
            "value; expected string; got int");
}

TEST(GoTemplate, SprigListAndDictFunctions) {
  EXPECT_EQ(
      Render(
          R"({{join "," .l}} {{join "-" (list "a" nil "b")}} {{splitList "," "a,b,c"}} {{split "," "a,b"}})",
          List()),
      "1,2,3 a-b [a b c] map[_0:a _1:b]");
  EXPECT_EQ(
      Render(
          R"({{list 1 "a"}} {{dict "a" 1 "b" "x"}} {{dict "k"}} {{get (dict "a" 1) "a"}} [{{get (dict) "a"}}])"),
      "[1 a] map[a:1 b:x] map[k:] 1 []");
  EXPECT_EQ(
      Render(
          R"({{hasKey .m "a"}} {{keys .m}} {{keys (dict "z" 1) (dict "a" 2)}} {{first .l}} {{last .l}} {{first (list)}})",
          List()),
      "true [a b c] [a z] 1 3 <no value>");
  EXPECT_EQ(Render(R"({{has 2 .l}} {{has 2.0 .l}} {{has "x" .l}} {{has 1 nil}})", List()),
            "true true false false");
}

TEST(GoTemplate, SprigDefaultsAndConversions) {
  EXPECT_EQ(
      Render(
          R"({{default "d" .missing}} {{default "d" ""}} {{default "d" "x"}} {{.missing | default "p"}} {{default "d" 0}} {{default "d" false}})"),
      "d d x p d d");
  EXPECT_EQ(
      Render(
          R"({{empty ""}} {{empty .l}} {{coalesce .missing "" "x"}} {{ternary "y" "n" true}} {{ternary "y" "n" false}})",
          List()),
      "true false x y n");
  EXPECT_EQ(Render(R"({{toString 5}} {{printf "%T" (toString 5)}} {{toStrings (list 1 "a")}})"),
            "5 string [1 a]");
  EXPECT_EQ(Render(R"({{b64enc "hello"}} {{b64dec "aGVsbG8="}} {{b64dec "!!!!"}})"),
            "aGVsbG8= hello illegal base64 data at input byte 0");
  EXPECT_EQ(Render(R"({{sha256sum "abc"}} {{sha1sum "abc"}})"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad "
            "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(ExecError(R"({{ternary "y" "n" 1}})").message,
            "template: t:1:3: executing \"t\" at <ternary \"y\" \"n\" 1>: error calling ternary: "
            "wrong type for value; expected bool; got int");
}

TEST(GoTemplate, SprigMathWorksInIntegers) {
  EXPECT_EQ(
      Render("{{add 1 2 3}} {{add 1 2.5}} {{add \"2\" 3}} {{add1 4}} {{sub 5 7}} {{mul 2 3 4}}"),
      "6 3 5 5 -2 24");
  EXPECT_EQ(
      Render("{{div 7 2}} {{mod 7 3}} {{max 1 5 3}} {{min 3 -1}} {{printf \"%T\" (add 1 2)}}"),
      "3 1 5 -1 int");
  EXPECT_EQ(
      Render("{{int \"12\"}} {{int 3.9}} {{int64 \"0x10\"}} {{float64 \"1.5\"}} {{float64 2}} "
             "{{atoi \"42\"}} {{atoi \"x\"}}"),
      "12 3 16 1.5 2 42 0");
  EXPECT_EQ(ExecError("{{div 1 0}}").message,
            "template: t:1:3: executing \"t\" at <div 1 0>: error calling div: runtime error: "
            "integer divide by zero");
}

TEST(GoTemplate, ToJsonWritesWhatGoWrites) {
  Json data =
      Json::parse(R"({"o": {"b": 1, "a": "<x>&", "f": 1.5, "g": 100.0, "e": 1e21, "t": 1e-7}})");
  EXPECT_EQ(Render("{{toJson .o}}", data),
            R"({"a":"\u003cx\u003e\u0026","b":1,"e":1e+21,"f":1.5,"g":100,"t":1e-7})");
  EXPECT_EQ(Render("{{toRawJson .o}}", data),
            R"({"a":"<x>&","b":1,"e":1e+21,"f":1.5,"g":100,"t":1e-7})");
  EXPECT_EQ(Render(R"({{toPrettyJson (dict "a" (list 1 2) "b" (dict))}})"),
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}");
  EXPECT_EQ(Render("{{toJson .missing}} {{toJson (list)}} {{toJson \"a\\nb\"}}"),
            R"(null [] "a\nb")");
}

// ---- errors -------------------------------------------------------------------------------

TEST(GoTemplate, AnUnknownFunctionIsAParseError) {
  EXPECT_EQ(ParseError("{{ foo 1 }}").message, "template: t:1:4: function \"foo\" not defined");
  EXPECT_EQ(ParseError("{{ env \"HOME\" }}").message,
            "template: t:1:4: function \"env\" not defined");
  EXPECT_EQ(ParseError("{{ now }}").message, "template: t:1:4: function \"now\" not defined");
}

TEST(GoTemplate, ParseErrorsNameTheTemplateLineAndColumn) {
  EXPECT_EQ(ParseError("title\n\nHello, {{ .x } }}", "app-deployed").message,
            "template: app-deployed:3:14: unexpected \"}\" in operand");
  EXPECT_EQ(ParseError("{{ .a").message, "template: t:1:1: unclosed action");
  EXPECT_EQ(ParseError("{{if .a}}x").message, "template: t:1:11: unexpected EOF");
  EXPECT_EQ(ParseError("x{{end}}").message, "template: t:1:2: unexpected {{end}}");
  EXPECT_EQ(ParseError("{{else}}").message, "template: t:1:1: unexpected {{else}}");
  EXPECT_EQ(ParseError("{{ ( .a }}").message, "template: t:1:9: unclosed left paren");
  EXPECT_EQ(ParseError("{{ .a ) }}").message, "template: t:1:7: unexpected right paren U+0029 ')'");
  EXPECT_EQ(ParseError("{{ \"abc }}").message, "template: t:1:4: unterminated quoted string");
  EXPECT_EQ(ParseError("{{if}}{{end}}").message, "template: t:1:5: missing value for if");
  EXPECT_EQ(ParseError("{{range $i, $e, $f := .l}}{{end}}").message,
            "template: t:1:15: too many declarations in range");
  EXPECT_EQ(ParseError("{{ .a.b+1 }}").message, "template: t:1:8: bad character U+002B '+'");
  EXPECT_EQ(ParseError("{{if .a}}{{else}}{{else}}{{end}}").message,
            "template: t:1:18: expected end; found {{else}}");
  EXPECT_EQ(ParseError("{{ .a ) }}").code, ErrorCode::kInvalid);
}

TEST(GoTemplate, ExecutionErrorsNameTheTemplateAndTheAction) {
  Error e = ExecError("line1\n  {{ index .l 5 }}", List());
  EXPECT_EQ(e.message,
            "template: t:2:6: executing \"t\" at <index .l 5>: error calling index: index out of "
            "range: 5");
  EXPECT_EQ(e.code, ErrorCode::kInvalid);
  EXPECT_EQ(ExecError(R"({{define "inner"}}{{.x.y}}{{end}}{{template "inner" .}})", Json{{"x", 1}})
                .message,
            "template: t:1:21: executing \"inner\" at <.x.y>: can't evaluate field y in type int");
}

// ---- host functions -------------------------------------------------------------------------

TEST(GoTemplate, HostFunctionsAreCalledByNameAndComeFirst) {
  GoTemplateFuncs funcs;
  funcs["shout"] = [](const std::vector<Json>& args) -> Result<Json> {
    return Json(args.at(0).is_string() ? args[0].get<std::string>() + "!" : "?");
  };
  funcs["upper"] = [](const std::vector<Json>&) -> Result<Json> { return Json("custom"); };
  funcs["fail"] = [](const std::vector<Json>&) -> Result<Json> {
    return Fail(ErrorCode::kNotFound, "nope");
  };
  EXPECT_EQ(
      Render("{{ shout \"hi\" }} {{ \"x\" | upper }} {{ shout .missing }}", Json::object(), funcs),
      "hi! custom ?");
  Error e = ExecError("{{ fail }}", Json::object(), funcs);
  EXPECT_EQ(e.message, "template: t:1:4: executing \"t\" at <fail>: error calling fail: nope");
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
}

// Argo CD exposes helpers as fields of the data, called with `call`.
TEST(GoTemplate, CallOfABuiltinsNameIsNoHostFunction) {
  // The builtin `call` resolved first, then `.call` as call's target
  // (fuzz_template's crash: a host call through no function).
  for (const char* text :
       {"{{call .call .x}}", "{{and 1 (call .and)}}", "{{len \"a\"}}{{call .len}}"}) {
    auto t = GoTemplate::Parse(text, "t");
    ASSERT_FALSE(t) << text;
    EXPECT_NE(t.error().message.find("not defined"), std::string::npos) << t.error().message;
  }
}

TEST(GoTemplate, CallInvokesTheHostsDottedFunctions) {
  GoTemplateFuncs funcs;
  funcs["time.Parse"] = [](const std::vector<Json>& args) -> Result<Json> {
    if (args.size() != 1 || !args[0].is_string()) return Fail("want one string");
    return Json{{"year", 2026}, {"text", args[0]}};
  };
  funcs["repo.RepoURLToHTTPS"] = [](const std::vector<Json>& args) -> Result<Json> {
    std::string url = args.at(0).get<std::string>();
    return Json(url.substr(0, url.size() - 4));
  };
  Json data = AppData();
  EXPECT_EQ(Render("{{ (call .time.Parse .app.status.operationState.finishedAt) }}", data, funcs),
            "map[text:2026-12-07T10:00:00Z year:2026]");
  EXPECT_EQ(
      Render("{{ (call .time.Parse .app.status.operationState.finishedAt).year }}", data, funcs),
      "2026");
  EXPECT_EQ(Render("{{with .app.spec.source}}{{call $.repo.RepoURLToHTTPS .repoURL}}{{end}}", data,
                   funcs),
            "https://github.com/argoproj/argocd-example-apps");
  EXPECT_EQ(Render("{{ .app.spec.source.repoURL | call .repo.RepoURLToHTTPS }}", data, funcs),
            "https://github.com/argoproj/argocd-example-apps");
  EXPECT_EQ(ExecError("{{ call .time.Parse 1 }}", data, funcs).message,
            "template: t:1:4: executing \"t\" at <call .time.Parse 1>: error calling time.Parse: "
            "want one string");
  EXPECT_EQ(GoTemplate::Parse("{{ call .time.Prase 1 }}", "t", funcs).error().message,
            "template: t:1:9: function \"time.Prase\" not defined");
  EXPECT_EQ(GoTemplate::Parse("{{ call \"x\" }}", "t", funcs).error().message,
            "template: t:1:9: call of \"\\\"x\\\"\": not a function of the host");
}

// ---- the Argo CD and Argo Rollouts catalogs --------------------------------------------------

TEST(GoTemplate, ArgoCdAppSyncSucceededMessage) {
  std::string text =
      "{{if eq .serviceType \"slack\"}}:white_check_mark:{{end}} Application "
      "{{.app.metadata.name}} has been successfully synced at "
      "{{.app.status.operationState.finishedAt}}.\n"
      "Sync operation details are available at: "
      "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}?operation=true .\n";
  EXPECT_EQ(Render(text, AppData("slack")),
            ":white_check_mark: Application guestbook has been successfully synced at "
            "2026-12-07T10:00:00Z.\n"
            "Sync operation details are available at: "
            "https://argocd.example.com/applications/guestbook?operation=true .\n");
  EXPECT_EQ(Render(text, AppData("email")).substr(0, 22), " Application guestbook");
}

TEST(GoTemplate, ArgoCdSlackAttachmentsRenderValidJson) {
  std::string text = R"([{
  "title": "{{ .app.metadata.name}}",
  "title_link":"{{.context.argocdUrl}}/applications/{{.app.metadata.name}}",
  "color": "#18be52",
  "fields": [
  {
    "title": "Sync Status",
    "value": "{{.app.status.sync.status}}",
    "short": true
  }
  {{range $index, $c := .app.status.conditions}}
  ,
  {
    "title": "{{$c.type}}",
    "value": "{{$c.message}}",
    "short": true
  }
  {{end}}
  ]
}])";
  std::string out = Render(text, AppData());
  Json j = Json::parse(out);
  EXPECT_EQ(j, Json::parse(R"([{"title": "guestbook",
    "title_link": "https://argocd.example.com/applications/guestbook", "color": "#18be52",
    "fields": [{"title": "Sync Status", "value": "Synced", "short": true}]}])"));
  Json data = AppData();
  data["app"]["status"]["conditions"] = Json::parse(
      R"([{"type": "SyncError", "message": "boom"}, {"type": "Warn", "message": "w"}])");
  j = Json::parse(Render(text, data));
  ASSERT_EQ(j[0]["fields"].size(), 3U);
  EXPECT_EQ(j[0]["fields"][1],
            Json::parse(R"({"title": "SyncError", "value": "boom", "short": true})"));
  EXPECT_EQ(j[0]["fields"][2]["title"], "Warn");
}

TEST(GoTemplate, ArgoRolloutsStepCompletedMessage) {
  Json data = Json::parse(R"({"rollout": {
    "metadata": {"name": "canary-demo"},
    "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}},
      {"setWeight": 40}, {"pause": {"duration": "10s"}}]}}},
    "status": {"currentStepIndex": 2}}})");
  EXPECT_EQ(
      Render("Rollout {{.rollout.metadata.name}} step number {{ add "
             ".rollout.status.currentStepIndex 1}}/{{len .rollout.spec.strategy.canary.steps}} "
             "has been completed.",
             data),
      "Rollout canary-demo step number 3/4 has been completed.");
}

// ---- limits --------------------------------------------------------------------------------

TEST(GoTemplate, TextOverTheLimitIsRefused) {
  EXPECT_TRUE(GoTemplate::Parse(std::string(GoTemplate::kMaxText, 'x'), "t"));
  auto t = GoTemplate::Parse(std::string(GoTemplate::kMaxText + 1, 'x'), "t");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(t.error().message, "template: t: 262145 bytes exceeds the limit of 262144");
}

TEST(GoTemplate, OutputOverTheLimitFails) {
  Json data = {{"s", std::string(1000, 'x')}};
  EXPECT_EQ(Render("{{range 1000}}{{$.s}}{{end}}", data).size(), 1'000'000U);
  Error e = ExecError("{{range 2000}}{{$.s}}{{end}}", data);
  EXPECT_EQ(e.code, ErrorCode::kTooLarge);
  EXPECT_EQ(e.message, "template: t:1:17: executing \"t\" at <$.s>: output exceeds 1048576 bytes");
  e = ExecError("{{ repeat 2000000 \"x\" }}");
  EXPECT_EQ(e.code, ErrorCode::kTooLarge);
  EXPECT_EQ(e.message,
            "template: t:1:4: executing \"t\" at <repeat 2000000 \"x\">: error calling repeat: "
            "result of 2000000 bytes exceeds the limit of 1048576");
}

TEST(GoTemplate, EvaluationStepsAreLimited) {
  EXPECT_EQ(Render("{{range 300000}}{{end}}done"), "done");
  Error e = ExecError("{{range 2000000}}{{end}}");
  EXPECT_EQ(e.code, ErrorCode::kTooLarge);
  EXPECT_EQ(e.message,
            "template: t:1:9: executing \"t\" at <2000000>: evaluation exceeds 1000000 steps");
  // What functions make counts: a list that doubles each time is stopped.
  e = ExecError("{{$x := list 1}}{{range 64}}{{$x = list $x $x}}{{end}}");
  EXPECT_EQ(e.code, ErrorCode::kTooLarge);
  EXPECT_NE(e.message.find("evaluation exceeds 1000000 steps"), std::string::npos) << e.message;
}

TEST(GoTemplate, TemplateCallDepthIsLimited) {
  std::string countdown =
      R"({{define "r"}}{{if gt . 0}}{{template "r" (sub . 1)}}{{end}}{{end}}{{template "r" .}})";
  EXPECT_EQ(Render(countdown, Json(GoTemplate::kMaxCallDepth - 1)), "");
  Error e = ExecError(countdown, Json(GoTemplate::kMaxCallDepth));
  EXPECT_EQ(e.code, ErrorCode::kTooLarge);
  EXPECT_EQ(
      e.message,
      "template: t:1:30: executing \"r\" at <template \"r\">: exceeded maximum template depth "
      "(100)");
}

TEST(GoTemplate, ExecutionNestingIsLimited) {
  std::string open, close;
  for (int i = 0; i < 20; ++i) {
    open += "{{if true}}";
    close += "{{end}}";
  }
  std::string text = R"({{define "r"}}{{if gt . 0}})" + open + R"({{template "r" (sub . 1)}})" +
                     close + R"({{end}}{{end}}{{template "r" .}})";
  EXPECT_EQ(Render(text, Json(40)), "");  // 40 calls of 22 levels
  Error e = ExecError(text, Json(60));
  EXPECT_EQ(e.code, ErrorCode::kTooLarge);
  EXPECT_NE(e.message.find("nesting deeper than 1000 levels"), std::string::npos) << e.message;
}

TEST(GoTemplate, ParseNestingIsLimited) {
  auto nested = [](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "{{if true}}";
    for (int i = 0; i < n; ++i) s += "{{end}}";
    return s;
  };
  EXPECT_EQ(Render(nested(GoTemplate::kMaxParseDepth)), "");
  Error e = ParseError(nested(GoTemplate::kMaxParseDepth + 1));
  EXPECT_EQ(e.code, ErrorCode::kTooLarge);
  EXPECT_EQ(e.message, "template: t:1:1103: nesting deeper than 100 levels");
  std::string parens = "{{" + std::string(101, '(') + "1" + std::string(101, ')') + "}}";
  EXPECT_EQ(ParseError(parens).code, ErrorCode::kTooLarge);
  EXPECT_EQ(Render("{{" + std::string(100, '(') + "1" + std::string(100, ')') + "}}"), "1");
}

TEST(GoTemplate, ExecuteRunsFromManyThreadsAtOnce) {
  auto t = GoTemplate::Parse(
      R"({{range $i, $c := .l}}{{$i}}:{{$c | add 1}}{{end}} {{.app.metadata.name | upper}})", "t");
  ASSERT_TRUE(t) << t.error().message;
  Json data = AppData();
  data["l"] = {1, 2, 3};
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 200; ++i) {
        auto out = t->Execute(data);
        if (!out || *out != "0:21:32:4 GUESTBOOK") ++failures[k];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace strake::model
