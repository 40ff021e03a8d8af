/* mopps_client: see mopps_client.h. */
#include "mopps_client.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <zmq.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mopps_client passes packed arrays as host memory: little-endian hosts only"
#endif

struct mopps_client {
  void *context;
  void *socket;
  char *endpoint;
  int timeout_ms, retries;
  int curve;
  char server_key[41], public_key[41], secret_key[41];
  int retried; /* the last call needed more than one attempt */
};

static const char *const code_names[] = {
    "OK",           "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND",    "ALREADY_EXISTS",     "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",      "OUT_OF_RANGE",       "UNIMPLEMENTED",     "INTERNAL",         "UNAVAILABLE",
    "DATA_LOSS",    "UNAUTHENTICATED"};

const char *mopps_code_name(int code) {
  return code >= 0 && code < (int)(sizeof code_names / sizeof *code_names) ? code_names[code] : "UNKNOWN";
}

static int fail(mopps_error *err, int code, const char *fmt, ...) {
  if (err != NULL) {
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return code;
}

static void ok(mopps_error *err) {
  if (err != NULL) {
    err->code = MOPPS_OK;
    err->message[0] = 0;
  }
}

mopps_options mopps_options_default(const char *endpoint) {
  mopps_options o = {endpoint, 5000, 2, NULL, NULL, NULL};
  return o;
}

mopps_pool_config mopps_pool_config_default(void) {
  mopps_pool_config c = {NAN, NAN, NAN, NAN, NAN, NAN, 0, 0, 0, 0};
  return c;
}

mopps_select_args mopps_select_args_default(const char *pool, uint32_t batch_size) {
  mopps_select_args a = {pool, batch_size, NULL, 0, 0, 0, 0, NULL};
  return a;
}

/* A fresh (socket) connection; REQ sockets that missed a reply are replaced, not reused. */
static int open_socket(mopps_client *c, mopps_error *err) {
  void *s = zmq_socket(c->context, ZMQ_REQ);
  if (s == NULL) return fail(err, MOPPS_INTERNAL, "zmq_socket: %s", zmq_strerror(zmq_errno()));
  int linger = 0;
  zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(s, ZMQ_RCVTIMEO, &c->timeout_ms, sizeof c->timeout_ms);
  zmq_setsockopt(s, ZMQ_SNDTIMEO, &c->timeout_ms, sizeof c->timeout_ms);
  if (c->curve) {
    if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, c->server_key, 40) != 0 ||
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, c->public_key, 40) != 0 ||
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, c->secret_key, 40) != 0) {
      zmq_close(s);
      return fail(err, MOPPS_INVALID_ARGUMENT, "CURVE keys refused (expected 40-character Z85): %s",
                  zmq_strerror(zmq_errno()));
    }
  }
  if (zmq_connect(s, c->endpoint) != 0) {
    zmq_close(s);
    return fail(err, MOPPS_INVALID_ARGUMENT, "connect %s: %s", c->endpoint, zmq_strerror(zmq_errno()));
  }
  c->socket = s;
  return MOPPS_OK;
}

static int copy_key(char dst[41], const char *src, const char *what, mopps_error *err) {
  if (src == NULL || strlen(src) != 40) return fail(err, MOPPS_INVALID_ARGUMENT, "%s: expected 40 Z85 characters", what);
  memcpy(dst, src, 41);
  return MOPPS_OK;
}

mopps_client *mopps_client_new(const mopps_options *o, mopps_error *err) {
  if (o == NULL || o->endpoint == NULL) {
    fail(err, MOPPS_INVALID_ARGUMENT, "endpoint: required");
    return NULL;
  }
  if (o->timeout_ms <= 0 || o->retries < 0) {
    fail(err, MOPPS_INVALID_ARGUMENT, "timeout_ms must be > 0 and retries >= 0");
    return NULL;
  }
  mopps_client *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->timeout_ms = o->timeout_ms;
  c->retries = o->retries;
  c->endpoint = strdup(o->endpoint);
  if ((o->public_key == NULL) != (o->secret_key == NULL)) {
    fail(err, MOPPS_INVALID_ARGUMENT, "give both public_key and secret_key, or neither");
    goto error;
  }
  if (o->server_key != NULL) {
    c->curve = 1;
    if (copy_key(c->server_key, o->server_key, "server_key", err) != 0) goto error;
    if (o->public_key != NULL) {
      if (copy_key(c->public_key, o->public_key, "public_key", err) != 0 ||
          copy_key(c->secret_key, o->secret_key, "secret_key", err) != 0)
        goto error;
    } else if (zmq_curve_keypair(c->public_key, c->secret_key) != 0) {
      fail(err, MOPPS_INTERNAL, "zmq_curve_keypair: %s (libzmq without CURVE?)", zmq_strerror(zmq_errno()));
      goto error;
    }
  }
  c->context = zmq_ctx_new();
  if (c->context == NULL || open_socket(c, err) != 0) goto error;
  ok(err);
  return c;
error:
  mopps_client_free(c);
  return NULL;
}

void mopps_client_free(mopps_client *c) {
  if (c == NULL) return;
  if (c->socket != NULL) zmq_close(c->socket);
  if (c->context != NULL) zmq_ctx_term(c->context);
  free(c->endpoint);
  free(c);
}

int mopps_call_raw(mopps_client *c, const char *method, const uint8_t *body, size_t len, uint8_t **reply,
                   size_t *reply_len, mopps_error *err) {
  char path[128];
  snprintf(path, sizeof path, "/mopps.v1.Selector/%s", method);
  *reply = NULL;
  *reply_len = 0;
  c->retried = 0;
  for (int attempt = 0; attempt <= c->retries; attempt++) {
    if (attempt > 0) {
      /* A REQ socket that missed its reply is stuck mid-exchange: replace it, then resend. */
      zmq_close(c->socket);
      c->socket = NULL;
      int rc = open_socket(c, err);
      if (rc != 0) return rc;
      c->retried = 1;
    }
    if (zmq_send(c->socket, path, strlen(path), ZMQ_SNDMORE) < 0 || zmq_send(c->socket, body, len, 0) < 0) {
      if (zmq_errno() == EAGAIN) continue;
      return fail(err, MOPPS_UNAVAILABLE, "%s: send: %s", method, zmq_strerror(zmq_errno()));
    }
    zmq_msg_t status_msg, body_msg;
    zmq_msg_init(&status_msg);
    if (zmq_msg_recv(&status_msg, c->socket, 0) < 0) {
      zmq_msg_close(&status_msg);
      if (zmq_errno() == EAGAIN) continue;
      return fail(err, MOPPS_UNAVAILABLE, "%s: receive: %s", method, zmq_strerror(zmq_errno()));
    }
    zmq_msg_init(&body_msg);
    int more = zmq_msg_more(&status_msg);
    if (more && zmq_msg_recv(&body_msg, c->socket, 0) < 0) {
      zmq_msg_close(&status_msg);
      zmq_msg_close(&body_msg);
      return fail(err, MOPPS_UNAVAILABLE, "%s: receive: %s", method, zmq_strerror(zmq_errno()));
    }
    Mopps__V1__Status *status =
        mopps__v1__status__unpack(NULL, zmq_msg_size(&status_msg), zmq_msg_data(&status_msg));
    int code;
    if (status == NULL) {
      code = fail(err, MOPPS_INTERNAL, "%s: the reply's status frame does not parse", method);
    } else {
      code = (int)status->code;
      if (code != MOPPS_OK) {
        fail(err, code, "%s", status->message);
      } else {
        *reply_len = zmq_msg_size(&body_msg);
        *reply = malloc(*reply_len + 1);
        if (*reply_len) memcpy(*reply, zmq_msg_data(&body_msg), *reply_len);
        ok(err);
      }
      mopps__v1__status__free_unpacked(status, NULL);
    }
    zmq_msg_close(&status_msg);
    zmq_msg_close(&body_msg);
    return code;
  }
  /* Leave a usable socket behind: the last one is still waiting for its reply. */
  zmq_close(c->socket);
  c->socket = NULL;
  if (open_socket(c, err) != 0) return err != NULL ? err->code : MOPPS_INTERNAL;
  return fail(err, MOPPS_UNAVAILABLE, "no reply from %s within %d ms, %d attempt(s) (%s)", c->endpoint,
              c->timeout_ms, c->retries + 1, method);
}

/* Packs `request`, calls, and unpacks the reply as `reply_type` (when not NULL). */
static int call(mopps_client *c, const char *method, const ProtobufCMessage *request,
                const ProtobufCMessageDescriptor *reply_type, ProtobufCMessage **reply, mopps_error *err) {
  size_t len = protobuf_c_message_get_packed_size(request);
  uint8_t *buf = malloc(len + 1);
  protobuf_c_message_pack(request, buf);
  uint8_t *body;
  size_t body_len;
  int code = mopps_call_raw(c, method, buf, len, &body, &body_len, err);
  free(buf);
  if (code != MOPPS_OK) return code;
  if (reply_type != NULL) {
    *reply = protobuf_c_message_unpack(reply_type, NULL, body_len, body);
    if (*reply == NULL) code = fail(err, MOPPS_INTERNAL, "%s: the reply body does not parse", method);
  }
  free(body);
  return code;
}

static void request_id(char out[33]) {
  uint8_t bytes[16];
  if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (uint8_t)rand();
  }
  for (size_t i = 0; i < sizeof bytes; i++) snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

static ProtobufCBinaryData le(const void *data, size_t bytes) {
  ProtobufCBinaryData b = {bytes, (uint8_t *)data};
  return b;
}

/* Copies a packed little-endian field of n elements of `size` bytes into malloc'd memory. */
static int unpack_le(ProtobufCBinaryData field, size_t n, size_t size, void **out, const char *what, mopps_error *err) {
  if (field.len != n * size) return fail(err, MOPPS_INTERNAL, "%s: %zu bytes for %zu values", what, field.len, n);
  *out = malloc(n * size + 1);
  if (n) memcpy(*out, field.data, n * size);
  return MOPPS_OK;
}

static void config_from_pb(const Mopps__V1__PoolConfig *m, mopps_pool_config *c) {
  *c = mopps_pool_config_default();
  if (m == NULL) return;
  c->prior_alpha = m->prior_alpha;
  c->prior_beta = m->prior_beta;
  c->decay = m->decay;
  c->target = m->target;
  c->band_low = m->band_low;
  c->band_high = m->band_high;
  c->strategy = m->strategy;
  c->has_seed = m->seed_opt_case == MOPPS__V1__POOL_CONFIG__SEED_OPT_SEED;
  c->seed = m->seed;
  c->strict_ids = m->strict_ids;
}

static void info_from_pb(const Mopps__V1__PoolInfo *m, mopps_pool_info *info) {
  memset(info, 0, sizeof *info);
  if (m == NULL) return;
  snprintf(info->name, sizeof info->name, "%s", m->name);
  config_from_pb(m->config, &info->config);
  info->prompt_count = m->prompt_count;
  info->select_count = m->select_count;
  info->update_count = m->update_count;
}

int mopps_health(mopps_client *c, char *status, size_t status_size, char *version, size_t version_size,
                 mopps_error *err) {
  Mopps__V1__HealthRequest req;
  mopps__v1__health_request__init(&req);
  ProtobufCMessage *reply;
  int code = call(c, "Health", &req.base, &mopps__v1__health_response__descriptor, &reply, err);
  if (code != MOPPS_OK) return code;
  Mopps__V1__HealthResponse *r = (Mopps__V1__HealthResponse *)reply;
  if (status != NULL) snprintf(status, status_size, "%s", r->status);
  if (version != NULL) snprintf(version, version_size, "%s", r->version);
  mopps__v1__health_response__free_unpacked(r, NULL);
  return MOPPS_OK;
}

int mopps_create_pool(mopps_client *c, const char *pool, const mopps_pool_config *config, mopps_pool_info *info,
                      mopps_error *err) {
  Mopps__V1__PoolConfig cfg;
  mopps__v1__pool_config__init(&cfg);
  if (config != NULL) {
#define OPT(field, CASE)                                                   \
  if (!isnan(config->field)) {                                             \
    cfg.field##_opt_case = MOPPS__V1__POOL_CONFIG__##CASE##_OPT_##CASE;    \
    cfg.field = config->field;                                             \
  }
    OPT(prior_alpha, PRIOR_ALPHA)
    OPT(prior_beta, PRIOR_BETA)
    OPT(decay, DECAY)
    OPT(target, TARGET)
    OPT(band_low, BAND_LOW)
    OPT(band_high, BAND_HIGH)
#undef OPT
    cfg.strategy = (Mopps__V1__Strategy)config->strategy;
    if (config->has_seed) {
      cfg.seed_opt_case = MOPPS__V1__POOL_CONFIG__SEED_OPT_SEED;
      cfg.seed = config->seed;
    }
    if (config->strict_ids) {
      cfg.strict_ids_opt_case = MOPPS__V1__POOL_CONFIG__STRICT_IDS_OPT_STRICT_IDS;
      cfg.strict_ids = 1;
    }
  }
  Mopps__V1__CreatePoolRequest req;
  mopps__v1__create_pool_request__init(&req);
  req.pool = (char *)pool;
  req.config = &cfg;
  ProtobufCMessage *reply;
  int code = call(c, "CreatePool", &req.base, &mopps__v1__create_pool_response__descriptor, &reply, err);
  if (code == MOPPS_ALREADY_EXISTS && c->retried) {
    /* A retry whose first attempt did create the pool: report that pool. */
    mopps_pool_info *pools;
    size_t n;
    if (mopps_list_pools(c, &pools, &n, err) != MOPPS_OK) return err != NULL ? err->code : MOPPS_UNAVAILABLE;
    for (size_t i = 0; i < n; i++) {
      if (strcmp(pools[i].name, pool) == 0 && info != NULL) *info = pools[i];
    }
    free(pools);
    return MOPPS_OK;
  }
  if (code != MOPPS_OK) return code;
  if (info != NULL) info_from_pb(((Mopps__V1__CreatePoolResponse *)reply)->pool, info);
  protobuf_c_message_free_unpacked(reply, NULL);
  return MOPPS_OK;
}

int mopps_drop_pool(mopps_client *c, const char *pool, mopps_error *err) {
  Mopps__V1__DropPoolRequest req;
  mopps__v1__drop_pool_request__init(&req);
  req.pool = (char *)pool;
  int code = call(c, "DropPool", &req.base, NULL, NULL, err);
  /* A retry whose first attempt did drop the pool finds it gone: that is the success asked for. */
  if (code == MOPPS_NOT_FOUND && c->retried) {
    ok(err);
    return MOPPS_OK;
  }
  return code;
}

int mopps_list_pools(mopps_client *c, mopps_pool_info **pools, size_t *n, mopps_error *err) {
  Mopps__V1__ListPoolsRequest req;
  mopps__v1__list_pools_request__init(&req);
  ProtobufCMessage *reply;
  int code = call(c, "ListPools", &req.base, &mopps__v1__list_pools_response__descriptor, &reply, err);
  if (code != MOPPS_OK) return code;
  Mopps__V1__ListPoolsResponse *r = (Mopps__V1__ListPoolsResponse *)reply;
  *n = r->n_pools;
  *pools = calloc(r->n_pools + 1, sizeof **pools);
  for (size_t i = 0; i < r->n_pools; i++) info_from_pb(r->pools[i], &(*pools)[i]);
  mopps__v1__list_pools_response__free_unpacked(r, NULL);
  return MOPPS_OK;
}

int mopps_register(mopps_client *c, const char *pool, const uint64_t *ids, size_t n, const double *prior_alpha,
                   const double *prior_beta, uint64_t *added, mopps_error *err) {
  if ((prior_alpha == NULL) != (prior_beta == NULL))
    return fail(err, MOPPS_INVALID_ARGUMENT, "give both prior_alpha and prior_beta, or neither");
  Mopps__V1__RegisterRequest req;
  mopps__v1__register_request__init(&req);
  req.pool = (char *)pool;
  req.ids_le = le(ids, n * 8);
  if (prior_alpha != NULL) {
    req.n_prior_alpha = req.n_prior_beta = n;
    req.prior_alpha = (double *)prior_alpha;
    req.prior_beta = (double *)prior_beta;
  }
  ProtobufCMessage *reply;
  int code = call(c, "Register", &req.base, &mopps__v1__register_response__descriptor, &reply, err);
  if (code != MOPPS_OK) return code;
  if (added != NULL) *added = ((Mopps__V1__RegisterResponse *)reply)->added;
  protobuf_c_message_free_unpacked(reply, NULL);
  return MOPPS_OK;
}

int mopps_select(mopps_client *c, const mopps_select_args *a, mopps_selection *out, mopps_error *err) {
  memset(out, 0, sizeof *out);
  char id[33];
  Mopps__V1__SelectRequest req;
  mopps__v1__select_request__init(&req);
  req.pool = (char *)a->pool;
  req.batch_size = a->batch_size;
  if (a->candidates != NULL) req.candidates_le = le(a->candidates, a->n_candidates * 8);
  req.candidate_count = a->candidate_count;
  req.strategy = (Mopps__V1__Strategy)a->strategy;
  req.return_means = a->return_means != 0;
  req.packed_reply = 1;
  if (a->request_id != NULL) {
    req.request_id = (char *)a->request_id;
  } else {
    request_id(id);
    req.request_id = id;
  }
  ProtobufCMessage *reply;
  int code = call(c, "Select", &req.base, &mopps__v1__select_response__descriptor, &reply, err);
  if (code != MOPPS_OK) return code;
  Mopps__V1__SelectResponse *r = (Mopps__V1__SelectResponse *)reply;
  size_t n = r->ids_le.len / 8;
  out->n = n;
  out->select_index = r->select_index;
  code = unpack_le(r->ids_le, n, 8, (void **)&out->ids, "ids_le", err);
  if (code == MOPPS_OK) code = unpack_le(r->samples_le, n, 4, (void **)&out->samples, "samples_le", err);
  if (code == MOPPS_OK && a->return_means) code = unpack_le(r->means_le, n, 8, (void **)&out->means, "means_le", err);
  mopps__v1__select_response__free_unpacked(r, NULL);
  if (code != MOPPS_OK) mopps_selection_free(out);
  return code;
}

void mopps_selection_free(mopps_selection *s) {
  free(s->ids);
  free(s->samples);
  free(s->means);
  memset(s, 0, sizeof *s);
}

int mopps_update(mopps_client *c, const char *pool, const uint64_t *ids, const double *successes,
                 const uint32_t *trials, size_t n, uint32_t rollouts, const char *request_id_or_null,
                 uint64_t *updated, int *duplicate, mopps_error *err) {
  char id[33];
  Mopps__V1__UpdateRequest req;
  mopps__v1__update_request__init(&req);
  req.pool = (char *)pool;
  req.ids_le = le(ids, n * 8);
  req.successes_le = le(successes, n * 8);
  if (trials != NULL) {
    req.trials_le = le(trials, n * 4);
  } else {
    req.rollouts = rollouts;
  }
  if (request_id_or_null != NULL) {
    req.request_id = (char *)request_id_or_null;
  } else {
    request_id(id);
    req.request_id = id;
  }
  ProtobufCMessage *reply;
  int code = call(c, "Update", &req.base, &mopps__v1__update_response__descriptor, &reply, err);
  if (code != MOPPS_OK) return code;
  Mopps__V1__UpdateResponse *r = (Mopps__V1__UpdateResponse *)reply;
  if (updated != NULL) *updated = r->updated;
  if (duplicate != NULL) *duplicate = r->duplicate;
  mopps__v1__update_response__free_unpacked(r, NULL);
  return MOPPS_OK;
}

static int posteriors_from(ProtobufCBinaryData ids, ProtobufCBinaryData alpha, ProtobufCBinaryData beta,
                           mopps_posteriors *out, mopps_error *err) {
  size_t n = ids.len / 8;
  out->n = n;
  int code = unpack_le(ids, n, 8, (void **)&out->ids, "ids_le", err);
  if (code == MOPPS_OK) code = unpack_le(alpha, n, 8, (void **)&out->alpha, "alpha_le", err);
  if (code == MOPPS_OK) code = unpack_le(beta, n, 8, (void **)&out->beta, "beta_le", err);
  if (code != MOPPS_OK) mopps_posteriors_free(out);
  return code;
}

int mopps_get(mopps_client *c, const char *pool, const uint64_t *ids, size_t n, mopps_posteriors *out,
              mopps_error *err) {
  memset(out, 0, sizeof *out);
  Mopps__V1__GetRequest req;
  mopps__v1__get_request__init(&req);
  req.pool = (char *)pool;
  if (ids != NULL) req.ids_le = le(ids, n * 8);
  req.packed_reply = 1;
  ProtobufCMessage *reply;
  int code = call(c, "Get", &req.base, &mopps__v1__get_response__descriptor, &reply, err);
  if (code != MOPPS_OK) return code;
  Mopps__V1__GetResponse *r = (Mopps__V1__GetResponse *)reply;
  code = posteriors_from(r->ids_le, r->alpha_le, r->beta_le, out, err);
  mopps__v1__get_response__free_unpacked(r, NULL);
  return code;
}

void mopps_posteriors_free(mopps_posteriors *p) {
  free(p->ids);
  free(p->alpha);
  free(p->beta);
  memset(p, 0, sizeof *p);
}

int mopps_import(mopps_client *c, const char *pool, const uint64_t *ids, const double *alpha, const double *beta,
                 size_t n, uint64_t *imported, mopps_error *err) {
  Mopps__V1__ImportRequest req;
  mopps__v1__import_request__init(&req);
  req.pool = (char *)pool;
  req.ids_le = le(ids, n * 8);
  req.alpha_le = le(alpha, n * 8);
  req.beta_le = le(beta, n * 8);
  ProtobufCMessage *reply;
  int code = call(c, "Import", &req.base, &mopps__v1__import_response__descriptor, &reply, err);
  if (code != MOPPS_OK) return code;
  if (imported != NULL) *imported = ((Mopps__V1__ImportResponse *)reply)->imported;
  protobuf_c_message_free_unpacked(reply, NULL);
  return MOPPS_OK;
}

int mopps_export(mopps_client *c, const char *pool, mopps_posteriors *out, mopps_error *err) {
  memset(out, 0, sizeof *out);
  Mopps__V1__ExportRequest req;
  mopps__v1__export_request__init(&req);
  req.pool = (char *)pool;
  ProtobufCMessage *reply;
  int code = call(c, "Export", &req.base, &mopps__v1__export_response__descriptor, &reply, err);
  if (code != MOPPS_OK) return code;
  Mopps__V1__ExportResponse *r = (Mopps__V1__ExportResponse *)reply;
  code = posteriors_from(r->ids_le, r->alpha_le, r->beta_le, out, err);
  mopps__v1__export_response__free_unpacked(r, NULL);
  return code;
}

int mopps_snapshot(mopps_client *c, const char *pool, const char *tag, Mopps__V1__SnapshotResponse **reply,
                   mopps_error *err) {
  Mopps__V1__SnapshotRequest req;
  mopps__v1__snapshot_request__init(&req);
  req.pool = (char *)(pool ? pool : "");
  req.tag = (char *)(tag ? tag : "");
  return call(c, "Snapshot", &req.base, &mopps__v1__snapshot_response__descriptor, (ProtobufCMessage **)reply, err);
}

int mopps_restore(mopps_client *c, const char *pool, const char *tag, mopps_pool_info *info, mopps_error *err) {
  Mopps__V1__RestoreRequest req;
  mopps__v1__restore_request__init(&req);
  req.pool = (char *)pool;
  req.tag = (char *)tag;
  ProtobufCMessage *reply;
  int code = call(c, "Restore", &req.base, &mopps__v1__restore_response__descriptor, &reply, err);
  if (code != MOPPS_OK) return code;
  if (info != NULL) info_from_pb(((Mopps__V1__RestoreResponse *)reply)->pool, info);
  protobuf_c_message_free_unpacked(reply, NULL);
  return MOPPS_OK;
}

int mopps_list_snapshots(mopps_client *c, const char *pool, Mopps__V1__ListSnapshotsResponse **reply,
                         mopps_error *err) {
  Mopps__V1__ListSnapshotsRequest req;
  mopps__v1__list_snapshots_request__init(&req);
  req.pool = (char *)(pool ? pool : "");
  return call(c, "ListSnapshots", &req.base, &mopps__v1__list_snapshots_response__descriptor,
              (ProtobufCMessage **)reply, err);
}

int mopps_stats(mopps_client *c, Mopps__V1__StatsResponse **reply, mopps_error *err) {
  Mopps__V1__StatsRequest req;
  mopps__v1__stats_request__init(&req);
  return call(c, "Stats", &req.base, &mopps__v1__stats_response__descriptor, (ProtobufCMessage **)reply, err);
}

void mopps_format_float32(float value, char *buf, size_t size) {
  if (isnan(value) || isinf(value)) {
    snprintf(buf, size, "%s", isnan(value) ? "nan" : (value < 0 ? "-inf" : "inf"));
    return;
  }
  if (value == 0) {
    snprintf(buf, size, "%s", signbit(value) ? "-0" : "0");
    return;
  }
  /* Fewest significant digits whose correctly rounded decimal reads back to the same float. */
  char e[32];
  for (int digits = 1; digits <= 9; digits++) {
    snprintf(e, sizeof e, "%.*e", digits - 1, (double)value);
    if (strtof(e, NULL) == value) break;
  }
  /* "-d.ddde±XX" -> sign, digit string, decimal exponent; then written positionally. */
  const char *p = e;
  int negative = *p == '-';
  if (negative) p++;
  char digits[16];
  size_t n = 0;
  for (; *p && *p != 'e'; p++)
    if (*p != '.') digits[n++] = *p;
  while (n > 1 && digits[n - 1] == '0') n--;
  int exponent = atoi(p + 1); /* value = d.ddd × 10^exponent */
  char out[64];
  size_t k = 0;
  if (negative) out[k++] = '-';
  if (exponent < 0) {
    out[k++] = '0';
    out[k++] = '.';
    for (int z = 0; z < -exponent - 1; z++) out[k++] = '0';
    for (size_t i = 0; i < n; i++) out[k++] = digits[i];
  } else {
    for (int i = 0; i <= exponent; i++) out[k++] = (size_t)i < n ? digits[i] : '0';
    if ((size_t)exponent + 1 < n) {
      out[k++] = '.';
      for (size_t i = (size_t)exponent + 1; i < n; i++) out[k++] = digits[i];
    }
  }
  out[k] = 0;
  snprintf(buf, size, "%s", out);
}
