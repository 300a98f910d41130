#include "linlid/import.h"

#include <csv.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>

#include "api/deps.h"
#include "api/principal.h"
#include "api/registry_service.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "common/log.h"
#include "model/registry.h"
#include "store/store.h"

namespace linli::linlid {
namespace {

namespace fs = std::filesystem;

struct CsvRow {
  int line = 0;  // 1-based line where the row starts
  std::vector<std::string> cells;
};

struct CsvReader {
  std::vector<CsvRow> rows;
  CsvRow current;
  int line = 1;
  int row_start = 1;
};

void OnField(void* data, size_t len, void* user) {
  auto* r = static_cast<CsvReader*>(user);
  r->current.cells.emplace_back(static_cast<const char*>(data), len);
}

void OnRowEnd(int, void* user) {
  auto* r = static_cast<CsvReader*>(user);
  r->current.line = r->row_start;
  bool blank = r->current.cells.size() <= 1 && (r->current.cells.empty() || r->current.cells[0].empty());
  if (!blank) r->rows.push_back(std::move(r->current));
  r->current = {};
}

// Reads a whole CSV file with libcsv (strict RFC 4180 quoting, embedded newlines allowed).
Result<std::vector<CsvRow>> ReadCsv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, "cannot open " + path);
  csv_parser parser;
  if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0) {
    return Fail(ErrorCode::kInternal, "csv_init failed");
  }
  CsvReader reader;
  char buf[64 * 1024];
  bool first = true;
  while (in) {
    in.read(buf, sizeof buf);
    size_t n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    size_t offset = 0;
    if (first && n >= 3 && static_cast<unsigned char>(buf[0]) == 0xEF && static_cast<unsigned char>(buf[1]) == 0xBB &&
        static_cast<unsigned char>(buf[2]) == 0xBF) {
      offset = 3;  // UTF-8 BOM written by spreadsheet programs
    }
    first = false;
    // Feed line by line to know where each row starts.
    const char* p = buf + offset;
    const char* end = buf + n;
    while (p < end) {
      const char* nl = static_cast<const char*>(memchr(p, '\n', end - p));
      const char* stop = nl ? nl + 1 : end;
      if (reader.current.cells.empty()) reader.row_start = reader.line;
      if (csv_parse(&parser, p, stop - p, OnField, OnRowEnd, &reader) != static_cast<size_t>(stop - p)) {
        std::string err = csv_strerror(csv_error(&parser));
        csv_free(&parser);
        return InvalidArgument("line " + std::to_string(reader.line), "CSV syntax: " + err);
      }
      if (nl) ++reader.line;
      p = stop;
    }
  }
  if (csv_fini(&parser, OnField, OnRowEnd, &reader) != 0) {
    std::string err = csv_strerror(csv_error(&parser));
    csv_free(&parser);
    return InvalidArgument("line " + std::to_string(reader.line), "CSV syntax: " + err);
  }
  csv_free(&parser);
  return std::move(reader.rows);
}

// Header aliases used in registry spreadsheets handed over by property companies and street
// offices.
const std::map<std::string, std::string>& HeaderAliases() {
  static const std::map<std::string, std::string> m = {
      {"姓名", "name"},          {"名称", "name"},          {"身份证号", "id_number"},   {"证件号码", "id_number"},
      {"手机号", "phone"},       {"联系电话", "phone"},     {"电话", "phone"},           {"性别", "gender"},
      {"出生日期", "birth_date"}, {"房屋", "room_id"},       {"房屋编号", "room_id"},     {"关系", "relation"},
      {"标签", "tags"},          {"小区", "compound_id"},   {"小区编号", "compound_id"}, {"楼栋", "building_id"},
      {"单元", "unit_id"},       {"楼层", "floor"},         {"房号", "number"},         {"面积", "area_m2"},
      {"地址", "address"},       {"编号", "id"},            {"层数", "floors"},         {"车牌", "plate"},
      {"车牌号", "plate"},       {"车主", "owner_id"},      {"统一社会信用代码", "credit_code"},
      {"社区", "community_id"},  {"级别", "level"},         {"上级", "parent_id"},
  };
  return m;
}

const std::map<std::string, std::string>& ValueAliases() {
  static const std::map<std::string, std::string> m = {
      {"男", "male"},   {"女", "female"}, {"业主", "owner"}, {"租户", "tenant"},
      {"家属", "family"}, {"区", "district"}, {"街道", "street"}, {"社区", "community"},
  };
  return m;
}

Result<Json> CellValue(const model::FieldSpec& f, const std::string& raw) {
  std::string s = raw;
  if (auto it = ValueAliases().find(s); it != ValueAliases().end() && !f.enum_values.empty()) s = it->second;
  try {
    switch (f.type) {
      case model::FieldType::kString:
      case model::FieldType::kRef:
        return Json(s);
      case model::FieldType::kInt: {
        size_t used = 0;
        long long v = std::stoll(s, &used);
        if (used != s.size()) throw std::invalid_argument("trailing");
        return Json(v);
      }
      case model::FieldType::kNumber: {
        size_t used = 0;
        double v = std::stod(s, &used);
        if (used != s.size()) throw std::invalid_argument("trailing");
        return Json(v);
      }
      case model::FieldType::kBool:
        if (s == "true" || s == "1" || s == "是" || s == "yes") return Json(true);
        if (s == "false" || s == "0" || s == "否" || s == "no") return Json(false);
        return InvalidArgument(f.name, "must be true/false");
      case model::FieldType::kStringList: {
        Json list = Json::array();
        std::string item;
        for (size_t i = 0; i <= s.size(); ++i) {
          if (i == s.size() || s[i] == ';' || s[i] == '|') {
            if (!item.empty()) list.push_back(item);
            item.clear();
          } else {
            item.push_back(s[i]);
          }
        }
        return list;
      }
      case model::FieldType::kJson:
        return ParseJson(s, 8);
    }
  } catch (const std::exception&) {
    return InvalidArgument(f.name, "'" + s.substr(0, 40) + "' is not a number");
  }
  return InvalidArgument(f.name, "unsupported");
}

std::string CsvEscape(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

class Progress {
 public:
  Progress(size_t total, bool enabled) : total_(total), enabled_(enabled && ::isatty(2)) {}
  void Update(size_t done, size_t rejected) {
    if (!enabled_) return;
    const int width = 30;
    int filled = total_ == 0 ? width : static_cast<int>(width * done / total_);
    std::fprintf(stderr, "\r[%.*s%*s] %3d%% %zu/%zu rows, %zu rejected", filled,
                 "##############################", width - filled, "",
                 total_ == 0 ? 100 : static_cast<int>(100 * done / total_), done, total_, rejected);
    std::fflush(stderr);
  }
  void Done() {
    if (enabled_) std::fputc('\n', stderr);
  }

 private:
  size_t total_;
  bool enabled_;
};

struct Rejection {
  const CsvRow* row;
  std::string field;
  std::string reason;
};

}  // namespace

int Import(const ImportOptions& options) {
  auto kind = model::KindFromCollection(options.kind);
  if (!kind || *kind == model::Kind::kUser) {
    std::cerr << "linlid import: --kind: must be one of regions, compounds, buildings, units, rooms, persons, "
                 "vehicles, organisations, devices\n";
    return 2;
  }
  if (options.batch_size < 1 || options.batch_size > 10000) {
    std::cerr << "linlid import: --batch: must be 1..10000\n";
    return 2;
  }
  const model::KindSpec& spec = model::Spec(*kind);
  auto rows = ReadCsv(options.file);
  if (!rows) {
    std::cerr << "linlid import: " << options.file << ": " << rows.error().field() << ": " << rows.error().message() << "\n";
    return 2;
  }
  if (rows->empty()) {
    std::cerr << "linlid import: " << options.file << ": empty file (a header row is required)\n";
    return 2;
  }
  // Header → field specs.
  std::vector<std::string> columns;
  for (const auto& raw : rows->front().cells) {
    std::string h = raw;
    while (!h.empty() && (h.back() == ' ' || h.back() == '\r')) h.pop_back();
    while (!h.empty() && h.front() == ' ') h.erase(h.begin());
    if (auto it = HeaderAliases().find(h); it != HeaderAliases().end()) h = it->second;
    if (h != "id" && (spec.Field(h) == nullptr || spec.Field(h)->write_only)) {
      std::cerr << "linlid import: " << options.file << ": header: '" << raw << "' is not a field of " << spec.name
                << " (fields: id";
      for (const auto& f : spec.fields) std::cerr << ", " << f.name;
      std::cerr << ")\n";
      return 2;
    }
    columns.push_back(h);
  }

  std::error_code ec;
  const fs::path dir = fs::absolute(options.data_dir);
  if (!fs::exists(dir / "linli.db", ec)) {
    std::cerr << "linlid import: --data-dir: no database in " << dir << " (start linlid serve once first)\n";
    return 2;
  }
  store::SqliteOptions sopts;
  sopts.path = (dir / "linli.db").string();
  auto store = store::OpenSqliteStore(sopts);
  if (!store) {
    std::cerr << "linlid import: store: " << store.error().ToString() << "\n";
    return 2;
  }
  auto cipher = FieldCipher::LoadOrCreate((dir / "field.key").string());
  if (!cipher) {
    std::cerr << "linlid import: field.key: " << cipher.error().ToString() << "\n";
    return 2;
  }
  api::ApiDeps deps;
  deps.store = store->get();
  deps.cipher = &*cipher;
  deps.clock = &SystemClock();
  deps.metrics = &metrics::Default();
  api::RegistryService registry(deps);
  const api::Principal system = api::Principal::System("linlid-import");

  std::vector<Rejection> rejected;
  size_t imported = 0;
  const size_t total = rows->size() - 1;
  Progress progress(total, !options.no_progress);

  // Convert rows to bodies; conversion failures are rejections.
  struct Pending {
    const CsvRow* row;
    Json body;
  };
  std::vector<Pending> batch;
  auto flush = [&]() {
    while (!batch.empty()) {
      if (options.dry_run) {
        // Validate each row alone without writing.
        for (const auto& p : batch) {
          auto v = model::ValidateFields(*kind, p.body, false);
          if (!v) rejected.push_back({p.row, v.error().field(), v.error().message()});
          else ++imported;
        }
        batch.clear();
        return;
      }
      std::vector<Json> bodies;
      for (const auto& p : batch) bodies.push_back(p.body);
      auto r = registry.CreateBatch(system, *kind, bodies);
      if (r) {
        imported += batch.size();
        batch.clear();
        return;
      }
      // "rows[i].field": reject row i and retry the rest.
      static const std::regex re(R"(^rows\[(\d+)\]\.?(.*)$)");
      std::smatch m;
      const std::string& field = r.error().field();
      if (std::regex_match(field, m, re) && std::stoul(m[1]) < batch.size()) {
        size_t i = std::stoul(m[1]);
        rejected.push_back({batch[i].row, m[2], r.error().message()});
        batch.erase(batch.begin() + static_cast<long>(i));
        continue;
      }
      if (r.error().code() == ErrorCode::kUnavailable || r.error().code() == ErrorCode::kInternal) {
        for (const auto& p : batch) rejected.push_back({p.row, field, r.error().message()});
        batch.clear();
        return;
      }
      // Unattributed failure: fall back to row-by-row.
      for (const auto& p : batch) {
        auto one = registry.Create(system, *kind, p.body);
        if (one) ++imported;
        else rejected.push_back({p.row, one.error().field(), one.error().message()});
      }
      batch.clear();
    }
  };

  for (size_t i = 1; i < rows->size(); ++i) {
    const CsvRow& row = (*rows)[i];
    if (row.cells.size() > columns.size()) {
      rejected.push_back({&row, "", "has " + std::to_string(row.cells.size()) + " cells, the header has " +
                                        std::to_string(columns.size())});
      continue;
    }
    Json body = Json::object();
    bool ok = true;
    for (size_t c = 0; c < row.cells.size() && ok; ++c) {
      std::string cell = row.cells[c];
      while (!cell.empty() && (cell.back() == ' ' || cell.back() == '\r')) cell.pop_back();
      while (!cell.empty() && cell.front() == ' ') cell.erase(cell.begin());
      if (cell.empty()) continue;
      if (columns[c] == "id") {
        body["id"] = cell;
        continue;
      }
      auto v = CellValue(*spec.Field(columns[c]), cell);
      if (!v) {
        rejected.push_back({&row, columns[c], v.error().message()});
        ok = false;
      } else {
        body[columns[c]] = std::move(*v);
      }
    }
    if (!ok) continue;
    batch.push_back({&row, std::move(body)});
    if (batch.size() >= static_cast<size_t>(options.batch_size)) {
      flush();
      progress.Update(i, rejected.size());
    }
  }
  flush();
  progress.Update(total, rejected.size());
  progress.Done();

  // Rejected rows: a CSV beside the input, and dead letters so operators see them too.
  fs::path rejected_path = options.file + ".rejected.csv";
  if (!rejected.empty()) {
    std::ofstream out(rejected_path);
    out << "line,field,error";
    for (const auto& c : rows->front().cells) out << "," << CsvEscape(c);
    out << "\n";
    store::IngestBatch dead;
    for (const auto& r : rejected) {
      out << r.row->line << "," << CsvEscape(r.field) << "," << CsvEscape(r.reason);
      for (const auto& c : r.row->cells) out << "," << CsvEscape(c);
      out << "\n";
      if (!options.dry_run) {
        model::DeadLetter d;
        d.received_ms = SystemClock().NowMs();
        d.source = "import";
        d.topic = fs::path(options.file).filename().string() + ":" + std::to_string(r.row->line);
        d.reason = "rejected_row";
        d.detail = (r.field.empty() ? "" : r.field + ": ") + r.reason;
        std::string raw;
        for (const auto& c : r.row->cells) raw += (raw.empty() ? "" : ",") + CsvEscape(c);
        d.payload_size = static_cast<int64_t>(raw.size());
        d.payload = raw;
        dead.dead_letters.push_back(std::move(d));
      }
    }
    if (!dead.empty()) (void)(*store)->WriteBatch(dead);
  }
  if (!options.dry_run) {
    model::AuditEntry a;
    a.ts_ms = SystemClock().NowMs();
    a.actor = "linlid-import";
    a.action = "import";
    a.object_kind = spec.name;
    a.detail = {{"file", fs::path(options.file).filename().string()}, {"imported", imported},
                {"rejected", rejected.size()}};
    (void)(*store)->AppendAudit(a);
  }

  std::cout << (options.dry_run ? "checked " : "imported ") << imported << " " << spec.collection << ", rejected "
            << rejected.size() << "\n";
  if (*kind == model::Kind::kDevice && imported > 0 && !options.dry_run) {
    std::cout << "note: imported devices have no broker account yet; issue one per device with\n"
                 "      POST /api/v1/devices/{id}/credentials. A running linlid loads new devices on restart.\n";
  }
  const size_t shown = std::min<size_t>(rejected.size(), 20);
  for (size_t i = 0; i < shown; ++i) {
    const auto& r = rejected[i];
    std::cout << "  line " << r.row->line << ": " << (r.field.empty() ? "" : r.field + ": ") << r.reason << "\n";
  }
  if (rejected.size() > shown) std::cout << "  ... and " << rejected.size() - shown << " more\n";
  if (!rejected.empty()) std::cout << "rejected rows written to " << rejected_path.string() << "\n";
  return rejected.empty() ? 0 : 1;
}

}  // namespace linli::linlid
