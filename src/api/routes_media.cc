// Routes: media objects (event snapshots and clips from edge boxes, photos of work orders).
// Upload is an idempotent PUT by id so that an edge box retrying after a lost answer stores the
// object once; the bytes go to the BlobStore, the metadata to the Store.
#include <algorithm>
#include <cctype>

#include "api/route_util.h"
#include "common/crypto.h"

namespace linli::api {
namespace {

constexpr size_t kMaxMediaBytes = 32u << 20;

const std::vector<std::string> kMediaTypes = {"image/jpeg", "image/png", "video/mp4",
                                              "video/x-msvideo"};

std::string MediaType(std::string_view content_type) {
  std::string t(content_type.substr(0, content_type.find(';')));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

// The bytes must look like what the content type claims (magic numbers), so that the server
// never serves e.g. HTML under an image type.
bool MatchesMagic(const std::string& type, std::string_view b) {
  auto starts = [&](std::string_view m, size_t at = 0) {
    return b.size() >= at + m.size() && b.substr(at, m.size()) == m;
  };
  if (type == "image/jpeg") return starts("\xFF\xD8\xFF");
  if (type == "image/png") return starts("\x89PNG\r\n\x1a\n");
  if (type == "video/mp4") return starts("ftyp", 4);
  if (type == "video/x-msvideo") return starts("RIFF") && starts("AVI ", 8);
  return false;
}

}  // namespace

void AddMediaRoutes(Router& r, ApiContext* ctx) {
  r.Add("PUT", "/api/v1/media/{id}",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kMedia, Action::kCreate));
          if (ctx->deps.blobs == nullptr) return Fail(ErrorCode::kUnavailable, "media storage is not configured");
          const std::string id = rc.Param("id");
          if (!model::ValidateId(id)) return InvalidArgument("id", "must be 1-64 of [A-Za-z0-9_-]");
          const std::string type = MediaType(rc.req.content_type);
          if (std::find(kMediaTypes.begin(), kMediaTypes.end(), type) == kMediaTypes.end()) {
            return InvalidArgument("Content-Type", "must be one of image/jpeg, image/png, video/mp4, video/x-msvideo");
          }
          if (rc.req.body.empty()) return InvalidArgument("body", "is empty");
          if (!MatchesMagic(type, rc.req.body)) {
            return InvalidArgument("body", "does not look like " + type);
          }
          model::MediaObject m;
          m.id = id;
          LINLI_ASSIGN_OR_RETURN(m.device_id, StringParam(rc.req, "device", 64));
          LINLI_ASSIGN_OR_RETURN(std::string compound, StringParam(rc.req, "compound", 64));
          LINLI_ASSIGN_OR_RETURN(m.event_id, StringParam(rc.req, "event", 128));
          if (!m.device_id.empty()) {
            LINLI_ASSIGN_OR_RETURN(auto device,
                                   InScope(*ctx, rc.principal, model::Kind::kDevice, m.device_id, "device"));
            m.compound_id = device.compound_id;
            if (!compound.empty() && compound != m.compound_id) {
              return InvalidArgument("compound", "the device belongs to compound '" + m.compound_id + "'");
            }
          } else if (!compound.empty()) {
            LINLI_RETURN_IF_ERROR(InScope(*ctx, rc.principal, model::Kind::kCompound, compound, "compound"));
            m.compound_id = compound;
          } else {
            return InvalidArgument("device", "device or compound is required");
          }
          m.content_type = type;
          m.size = static_cast<int64_t>(rc.req.body.size());
          m.sha256 = Sha256Hex(rc.req.body);
          m.created_ms = ctx->deps.clock->NowMs();
          m.uploaded_by = rc.principal.Actor();
          // Metadata decides identity (same id, other bytes → 409) before the bytes are written.
          auto existing = ctx->deps.store->GetMedia(id);
          if (existing) {
            if (existing->sha256 != m.sha256)
              return Fail(ErrorCode::kConflict, "media '" + id + "' exists with other content", "id");
            if (!rc.principal.InScope(existing->compound_id))
              return Fail(ErrorCode::kConflict, "media '" + id + "' exists", "id");
            return ApiResponse::FromJson(200, model::ToJson(*existing));
          }
          if (existing.error().code() != ErrorCode::kNotFound) return std::unexpected(existing.error());
          LINLI_RETURN_IF_ERROR(ctx->deps.blobs->Put(id, rc.req.body));
          LINLI_ASSIGN_OR_RETURN(auto stored, ctx->deps.store->PutMedia(m));
          const bool created = stored.created_ms == m.created_ms && stored.uploaded_by == m.uploaded_by;
          ctx->metrics->GetCounter("linli_media_uploads_total", "Media objects uploaded").Inc();
          ctx->metrics->GetCounter("linli_media_bytes_total", "Bytes of media uploaded").Inc(m.size);
          return ApiResponse::FromJson(created ? 201 : 200, model::ToJson(stored));
        },
        {.summary = "Upload a media object (snapshot, clip, photo)",
         .description =
             "Roles: admin, operator, technician, integrator (edge boxes use an integrator API key). "
             "Idempotent by id: the same id with the same bytes answers 200 with the stored object, "
             "with other bytes 409. The body is the raw file (at most 32 MiB) and must match its "
             "Content-Type. Either ?device= (a device in scope; its compound is used) or ?compound= "
             "is required; ?event= links it to an event.",
         .tag = "media",
         .response_schema = "Media",
         .success_status = 201,
         .query = {{"device", "string", "the camera / edge box it comes from"},
                   {"compound", "string", "compound (when there is no device)"},
                   {"event", "string", "id of the event it documents"}},
         .request_content_types = kMediaTypes,
         .max_body_bytes = kMaxMediaBytes});

  r.Add("GET", "/api/v1/media/{id}",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kMedia));
          if (ctx->deps.blobs == nullptr) return Fail(ErrorCode::kUnavailable, "media storage is not configured");
          const std::string id = rc.Param("id");
          auto missing = Fail(ErrorCode::kNotFound, "no such media '" + id.substr(0, 64) + "'");
          if (!model::ValidateId(id)) return missing;
          auto m = ctx->deps.store->GetMedia(id);
          if (!m) return m.error().code() == ErrorCode::kNotFound ? missing : std::unexpected(m.error());
          if (!rc.principal.InScope(m->compound_id)) return missing;
          LINLI_ASSIGN_OR_RETURN(std::string bytes, ctx->deps.blobs->Get(id));
          ApiResponse resp;
          resp.content_type = m->content_type;
          resp.body = std::move(bytes);
          resp.headers.emplace_back("Cache-Control", "private, max-age=86400, immutable");
          resp.headers.emplace_back("X-Content-Type-Options", "nosniff");
          return resp;
        },
        {.summary = "Download a media object",
         .description = "Roles: admin, operator, technician, grid_worker, police, integrator; the "
                        "object's compound must be in scope (404 otherwise).",
         .tag = "media",
         .response_content_type = "application/octet-stream"});

  r.Add("GET", "/api/v1/media",
        [ctx](RequestContext& rc) -> Result<ApiResponse> {
          LINLI_RETURN_IF_ERROR(Require(rc.principal, Resource::kMedia));
          store::MediaQuery q;
          q.compound_ids = rc.principal.ScopeFilter();
          LINLI_ASSIGN_OR_RETURN(q.event_id, StringParam(rc.req, "event", 128));
          LINLI_ASSIGN_OR_RETURN(q.device_id, StringParam(rc.req, "device", 64));
          if (q.event_id.empty() && q.device_id.empty())
            return InvalidArgument("event", "event or device is required");
          LINLI_ASSIGN_OR_RETURN(int64_t limit, IntParam(rc.req, "limit", 100, 1, 1000));
          q.limit = static_cast<int>(limit);
          LINLI_ASSIGN_OR_RETURN(auto items, ctx->deps.store->ListMedia(q));
          Json out = Json::array();
          for (const auto& m : items) out.push_back(model::ToJson(m));
          return ApiResponse::FromJson(200, Json{{"items", std::move(out)}});
        },
        {.summary = "Media objects of an event or a device (newest first)",
         .description = "Roles as for downloading; only objects in scope are listed.",
         .tag = "media",
         .response_schema = "MediaList",
         .query = {{"event", "string", "event id"},
                   {"device", "string", "device id"},
                   {"limit", "integer", "1..1000, default 100"}}});
}

}  // namespace linli::api
