#include "rules/expr.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace linli::rules {

struct Expr::Node {
  enum class Op { kLiteral, kPath, kNot, kAnd, kOr, kEq, kNe, kLt, kLe, kGt, kGe, kIn, kList };
  Op op = Op::kLiteral;
  Json literal;
  std::string path;
  std::vector<std::shared_ptr<const Node>> kids;
};

namespace {

using Node = Expr::Node;
using Op = Node::Op;
using NodePtr = std::shared_ptr<const Node>;

constexpr int kMaxDepth = 32;
constexpr size_t kMaxLength = 4096;

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Result<NodePtr> Parse() {
    LINLI_ASSIGN_OR_RETURN(NodePtr n, Or(0));
    Skip();
    if (pos_ != s_.size()) return Error("unexpected '" + std::string(s_.substr(pos_, 10)) + "'");
    return n;
  }
  std::vector<std::string> roots;

 private:
  std::unexpected<linli::Error> Error(const std::string& msg) const {
    return InvalidArgument("expression", "at " + std::to_string(pos_ + 1) + ": " + msg);
  }
  void Skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool Eat(std::string_view tok) {
    Skip();
    if (s_.substr(pos_, tok.size()) != tok) return false;
    // Word operators must not be a prefix of a name ("order" is not "or").
    if (std::isalpha(static_cast<unsigned char>(tok.back())) && pos_ + tok.size() < s_.size()) {
      char next = s_[pos_ + tok.size()];
      if (std::isalnum(static_cast<unsigned char>(next)) || next == '_' || next == '.') return false;
    }
    pos_ += tok.size();
    return true;
  }
  static NodePtr Make(Op op, std::vector<NodePtr> kids) {
    auto n = std::make_shared<Node>();
    n->op = op;
    n->kids = std::move(kids);
    return n;
  }

  Result<NodePtr> Or(int depth) {
    if (depth > kMaxDepth) return Error("nested too deeply");
    LINLI_ASSIGN_OR_RETURN(NodePtr left, And(depth + 1));
    while (Eat("||") || Eat("or")) {
      LINLI_ASSIGN_OR_RETURN(NodePtr right, And(depth + 1));
      left = Make(Op::kOr, {left, right});
    }
    return left;
  }
  Result<NodePtr> And(int depth) {
    LINLI_ASSIGN_OR_RETURN(NodePtr left, Not(depth + 1));
    while (Eat("&&") || Eat("and")) {
      LINLI_ASSIGN_OR_RETURN(NodePtr right, Not(depth + 1));
      left = Make(Op::kAnd, {left, right});
    }
    return left;
  }
  Result<NodePtr> Not(int depth) {
    if (depth > kMaxDepth) return Error("nested too deeply");
    Skip();
    if ((pos_ < s_.size() && s_[pos_] == '!' && s_.substr(pos_, 2) != "!=" && (++pos_, true)) || Eat("not")) {
      LINLI_ASSIGN_OR_RETURN(NodePtr k, Not(depth + 1));
      return Make(Op::kNot, {k});
    }
    return Cmp(depth + 1);
  }
  Result<NodePtr> Cmp(int depth) {
    LINLI_ASSIGN_OR_RETURN(NodePtr left, Value(depth + 1));
    static const std::pair<std::string_view, Op> kOps[] = {{"==", Op::kEq}, {"!=", Op::kNe}, {"<=", Op::kLe},
                                                           {">=", Op::kGe}, {"<", Op::kLt},  {">", Op::kGt}};
    for (const auto& [tok, op] : kOps) {
      if (Eat(tok)) {
        LINLI_ASSIGN_OR_RETURN(NodePtr right, Value(depth + 1));
        return Make(op, {left, right});
      }
    }
    if (Eat("in")) {
      if (!Eat("[")) return Error("expected '[' after 'in'");
      std::vector<NodePtr> items;
      if (!Eat("]")) {
        while (true) {
          LINLI_ASSIGN_OR_RETURN(NodePtr v, Value(depth + 1));
          items.push_back(v);
          if (Eat("]")) break;
          if (!Eat(",")) return Error("expected ',' or ']'");
        }
      }
      return Make(Op::kIn, {left, Make(Op::kList, std::move(items))});
    }
    return left;
  }
  Result<NodePtr> Value(int depth) {
    if (depth > kMaxDepth) return Error("nested too deeply");
    Skip();
    if (pos_ >= s_.size()) return Error("expected a value");
    char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      LINLI_ASSIGN_OR_RETURN(NodePtr inner, Or(depth + 1));
      if (!Eat(")")) return Error("expected ')'");
      return inner;
    }
    if (c == '\'' || c == '"') {
      const char quote = c;
      ++pos_;
      std::string text;
      while (pos_ < s_.size() && s_[pos_] != quote) {
        if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
        text += s_[pos_++];
      }
      if (pos_ >= s_.size()) return Error("unterminated string");
      ++pos_;
      auto n = std::make_shared<Node>();
      n->literal = text;
      return NodePtr(n);
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+') {
      size_t start = pos_;
      ++pos_;
      while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.' ||
                                  s_[pos_] == 'e' || s_[pos_] == 'E' ||
                                  ((s_[pos_] == '-' || s_[pos_] == '+') && (s_[pos_ - 1] == 'e' || s_[pos_ - 1] == 'E'))))
        ++pos_;
      std::string num(s_.substr(start, pos_ - start));
      if (num.front() == '+') num.erase(0, 1);
      double v = 0;
      auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
      if (ec != std::errc() || ptr != num.data() + num.size() || !std::isfinite(v)) {
        pos_ = start;
        return Error("bad number");
      }
      auto n = std::make_shared<Node>();
      n->literal = v;
      return NodePtr(n);
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = pos_;
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_' ||
                                  s_[pos_] == '.' || s_[pos_] == '-'))
        ++pos_;
      std::string name(s_.substr(start, pos_ - start));
      if (name.back() == '.' || name.find("..") != std::string::npos) {
        pos_ = start;
        return Error("bad name '" + name + "'");
      }
      auto n = std::make_shared<Node>();
      if (name == "true" || name == "false") {
        n->literal = name == "true";
      } else if (name == "null") {
        n->literal = nullptr;
      } else {
        n->op = Op::kPath;
        n->path = name;
        std::string root = name.substr(0, name.find('.'));
        if (std::find(roots.begin(), roots.end(), root) == roots.end()) roots.push_back(root);
      }
      return NodePtr(n);
    }
    return Error("unexpected '" + std::string(1, c) + "'");
  }

  std::string_view s_;
  size_t pos_ = 0;
};

bool Truthy(const Json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  if (v.is_array() || v.is_object()) return !v.empty();
  return false;
}

bool Equal(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  if (a.is_boolean() && b.is_number()) return (a.get<bool>() ? 1.0 : 0.0) == b.get<double>();
  if (a.is_number() && b.is_boolean()) return a.get<double>() == (b.get<bool>() ? 1.0 : 0.0);
  return a == b;
}

// -1/0/1, or 2 if not comparable.
int Compare(const Json& a, const Json& b) {
  auto num = [](const Json& v, double* out) {
    if (v.is_number()) {
      *out = v.get<double>();
      return true;
    }
    if (v.is_boolean()) {
      *out = v.get<bool>() ? 1 : 0;
      return true;
    }
    return false;
  };
  double x = 0, y = 0;
  if (num(a, &x) && num(b, &y)) return x < y ? -1 : (x > y ? 1 : 0);
  if (a.is_string() && b.is_string()) {
    const auto& s = a.get_ref<const std::string&>();
    const auto& t = b.get_ref<const std::string&>();
    return s < t ? -1 : (s > t ? 1 : 0);
  }
  return 2;
}

template <typename Lookup>
Json Eval(const Node& n, const Lookup& lookup) {
  switch (n.op) {
    case Op::kLiteral:
      return n.literal;
    case Op::kPath:
      return lookup(n.path);
    case Op::kNot:
      return !Truthy(Eval(*n.kids[0], lookup));
    case Op::kAnd:
      return Truthy(Eval(*n.kids[0], lookup)) && Truthy(Eval(*n.kids[1], lookup));
    case Op::kOr:
      return Truthy(Eval(*n.kids[0], lookup)) || Truthy(Eval(*n.kids[1], lookup));
    case Op::kEq:
      return Equal(Eval(*n.kids[0], lookup), Eval(*n.kids[1], lookup));
    case Op::kNe:
      return !Equal(Eval(*n.kids[0], lookup), Eval(*n.kids[1], lookup));
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe: {
      int c = Compare(Eval(*n.kids[0], lookup), Eval(*n.kids[1], lookup));
      if (c == 2) return false;
      if (n.op == Op::kLt) return c < 0;
      if (n.op == Op::kLe) return c <= 0;
      if (n.op == Op::kGt) return c > 0;
      return c >= 0;
    }
    case Op::kIn: {
      Json v = Eval(*n.kids[0], lookup);
      for (const auto& item : n.kids[1]->kids) {
        if (Equal(v, Eval(*item, lookup))) return true;
      }
      // A list-valued path "contains": tags in ['elderly'] is true if any tag matches.
      if (v.is_array()) {
        for (const auto& e : v) {
          for (const auto& item : n.kids[1]->kids) {
            if (Equal(e, Eval(*item, lookup))) return true;
          }
        }
      }
      return false;
    }
    case Op::kList:
      return nullptr;
  }
  return nullptr;
}

}  // namespace

Expr::Expr() = default;
Expr::~Expr() = default;
Expr::Expr(const Expr&) = default;
Expr& Expr::operator=(const Expr&) = default;
Expr::Expr(Expr&&) noexcept = default;
Expr& Expr::operator=(Expr&&) noexcept = default;

Result<Expr> Expr::Compile(std::string_view text) {
  Expr e;
  e.text_ = std::string(text);
  if (text.size() > kMaxLength) return InvalidArgument("expression", "longer than 4096 bytes");
  bool blank = std::all_of(text.begin(), text.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
  if (blank) return e;
  Parser p(text);
  LINLI_ASSIGN_OR_RETURN(e.root_, p.Parse());
  e.roots_ = std::move(p.roots);
  return e;
}

namespace {
struct JsonLookup {
  const Json& ctx;
  Json operator()(std::string_view path) const {
    const Json* v = LookupPath(ctx, path);
    return v != nullptr ? *v : Json(nullptr);
  }
};
}  // namespace

bool Expr::Test(const Json& context) const {
  if (root_ == nullptr) return true;
  return Truthy(Eval(*root_, JsonLookup{context}));
}

bool Expr::Test(const std::function<Json(std::string_view)>& lookup) const {
  if (root_ == nullptr) return true;
  return Truthy(Eval(*root_, lookup));
}

Json Expr::Evaluate(const Json& context) const {
  if (root_ == nullptr) return true;
  return Eval(*root_, JsonLookup{context});
}

const Json* LookupPath(const Json& context, std::string_view path) {
  const Json* cur = &context;
  while (!path.empty()) {
    size_t dot = path.find('.');
    std::string_view name = path.substr(0, dot);
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(name);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot + 1);
  }
  return cur;
}

Result<Template> Template::Compile(std::string_view text) {
  Template t;
  t.text_ = std::string(text);
  if (text.size() > kMaxLength) return InvalidArgument("template", "longer than 4096 bytes");
  std::string literal;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      literal += '{';
      ++i;
    } else if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') {
      literal += '}';
      ++i;
    } else if (c == '{') {
      size_t end = text.find('}', i);
      if (end == std::string_view::npos)
        return InvalidArgument("template", "at " + std::to_string(i + 1) + ": unclosed '{'");
      std::string path(text.substr(i + 1, end - i - 1));
      while (!path.empty() && path.front() == ' ') path.erase(0, 1);
      while (!path.empty() && path.back() == ' ') path.pop_back();
      bool ok = !path.empty() && std::all_of(path.begin(), path.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-';
      });
      if (!ok) return InvalidArgument("template", "at " + std::to_string(i + 1) + ": bad placeholder '{" + path + "}'");
      if (!literal.empty()) t.parts_.push_back({false, std::move(literal)});
      literal.clear();
      t.parts_.push_back({true, std::move(path)});
      i = end;
    } else if (c == '}') {
      return InvalidArgument("template", "at " + std::to_string(i + 1) + ": unmatched '}'");
    } else {
      literal += c;
    }
  }
  if (!literal.empty()) t.parts_.push_back({false, std::move(literal)});
  return t;
}

std::string Template::Render(const Json& context) const {
  std::string out;
  for (const auto& p : parts_) {
    if (!p.is_path) {
      out += p.text;
      continue;
    }
    const Json* v = LookupPath(context, p.text);
    if (v == nullptr || v->is_null()) continue;
    if (v->is_string()) {
      out += v->get_ref<const std::string&>();
    } else if (v->is_number_float()) {
      double d = v->get<double>();
      if (d == std::floor(d) && std::fabs(d) < 1e15) {
        out += std::to_string(static_cast<int64_t>(d));
      } else {
        out += DumpJson(*v);
      }
    } else {
      out += DumpJson(*v);
    }
  }
  return out;
}

}  // namespace linli::rules
