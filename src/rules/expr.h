// Expressions of the rule language: conditions on the firing context ("where:" clauses,
// telemetry thresholds) and "{path}" templates for titles and keys.
//
// Grammar (docs/rules.md):
//   expr    := or
//   or      := and ("||" and | "or" and)*
//   and     := not ("&&" not | "and" not)*
//   not     := ("!" | "not") not | cmp
//   cmp     := value (("==" | "!=" | "<" | "<=" | ">" | ">=") value | "in" list)?
//   value   := number | 'string' | "string" | true | false | null | path | "(" expr ")"
//   path    := name ("." name)*          e.g. event.data.ch4_ppm, device.kind, value
//   list    := "[" value ("," value)* "]"
// Comparisons between a number and a non-number are false (not an error); a missing path is
// null; `x` alone is truthy when it is true, a non-zero number or a non-empty string.
// Thread-safety: a compiled Expr is immutable and may be evaluated from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/result.h"

namespace linli::rules {

class Expr {
 public:
  // InvalidArgument with the column of the problem ("at 12: expected a value").
  static Result<Expr> Compile(std::string_view text);
  Expr();
  ~Expr();
  Expr(const Expr&);
  Expr& operator=(const Expr&);
  Expr(Expr&&) noexcept;
  Expr& operator=(Expr&&) noexcept;

  bool Empty() const { return root_ == nullptr; }
  // True when the expression holds for `context` (an object; paths look into it). An empty
  // expression is true.
  bool Test(const Json& context) const;
  // The same with paths resolved by `lookup` (null for unknown paths), so that a caller can
  // evaluate against its own structures without building a JSON context first.
  bool Test(const std::function<Json(std::string_view)>& lookup) const;
  // The value of the expression (for templates and tests).
  Json Evaluate(const Json& context) const;
  const std::string& text() const { return text_; }
  // Top-level paths the expression reads ("event", "device", ...), for lazy contexts.
  const std::vector<std::string>& roots() const { return roots_; }

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
  std::string text_;
  std::vector<std::string> roots_;
};

// Looks a dotted path up in `context` ("device.building_id"); null when any step is missing.
const Json* LookupPath(const Json& context, std::string_view path);

// A template with "{path}" placeholders ("燃气泄漏 {building.name} {device.name}"). "{{" and
// "}}" are literal braces. Missing values render as "".
class Template {
 public:
  static Result<Template> Compile(std::string_view text);
  Template() = default;
  std::string Render(const Json& context) const;
  bool Empty() const { return parts_.empty(); }
  const std::string& text() const { return text_; }

 private:
  struct Part {
    bool is_path = false;
    std::string text;  // literal text or the path
  };
  std::vector<Part> parts_;
  std::string text_;
};

}  // namespace linli::rules
