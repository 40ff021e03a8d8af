/*
 * mopps_client: a small C client library for moppsd (libzmq + the protobuf-c code of proto/).
 *
 *   mopps_options o = mopps_options_default("ipc:///tmp/mopps-state/moppsd.sock");
 *   mopps_error err;
 *   mopps_client *c = mopps_client_new(&o, &err);
 *   mopps_pool_config cfg = mopps_pool_config_default();
 *   cfg.decay = 0.5; cfg.has_seed = 1; cfg.seed = 1;
 *   if (mopps_create_pool(c, "math", &cfg, NULL, &err) != 0) fprintf(stderr, "%s: %s\n",
 *       mopps_code_name(err.code), err.message);
 *   mopps_selection s;
 *   mopps_select_args a = mopps_select_args_default("math", 256);
 *   a.candidates = ids; a.n_candidates = 4096;
 *   mopps_select(c, &a, &s, &err);  ...  mopps_selection_free(&s);
 *   mopps_client_free(c);
 *
 * Every function returning int returns 0 (MOPPS_OK) on success, else the gRPC status code, which is
 * also in err->code with the server's (or this library's) message; err may be NULL. Arrays travel as
 * packed little-endian bytes. Reliability ("Lazy Pirate"): a call waits timeout_ms for its reply;
 * on a timeout the socket is replaced and the same request is sent again, up to `retries` more
 * times, then UNAVAILABLE. Select and Update carry a request id (a random one when none is given),
 * so a retried Update is applied once and a retried Select draws once; a retried CreatePool or
 * DropPool whose first attempt went through is reported as success. One client is one REQ
 * socket: not thread-safe; give each thread its own.
 */
#ifndef MOPPS_CLIENT_H
#define MOPPS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "mopps/v1/selector.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* gRPC canonical codes (mopps.v1.Code). */
enum {
  MOPPS_OK = 0,
  MOPPS_INVALID_ARGUMENT = 3,
  MOPPS_NOT_FOUND = 5,
  MOPPS_ALREADY_EXISTS = 6,
  MOPPS_UNAVAILABLE = 14,
  MOPPS_INTERNAL = 13
};

typedef struct {
  int code;           /* gRPC code; MOPPS_OK when nothing failed */
  char message[512];  /* what went wrong, naming the field when the server refused a request */
} mopps_error;

/* The gRPC name of a code ("INVALID_ARGUMENT"), or "UNKNOWN" for a number out of range. */
const char *mopps_code_name(int code);

typedef struct {
  const char *endpoint;    /* e.g. "ipc:///tmp/mopps-state/moppsd.sock", "tcp://127.0.0.1:5555" */
  int timeout_ms;          /* per attempt; default 5000 */
  int retries;             /* further attempts after a timeout; default 2 */
  /* CurveZMQ (Z85, 40 characters each): the server's public key, and this client's pair (the pair
   * is generated when server_key is set and these are NULL; list its public key in --curve-allow). */
  const char *server_key;
  const char *public_key;
  const char *secret_key;
} mopps_options;

mopps_options mopps_options_default(const char *endpoint);

typedef struct mopps_client mopps_client;

/* NULL on failure (err says why). */
mopps_client *mopps_client_new(const mopps_options *options, mopps_error *err);
void mopps_client_free(mopps_client *client);

/* One request: [/mopps.v1.Selector/<method>][body]. Returns the status code; on OK *reply is the
 * malloc'd reply body (free it), else err holds the status message. */
int mopps_call_raw(mopps_client *client, const char *method, const uint8_t *body, size_t len, uint8_t **reply,
                   size_t *reply_len, mopps_error *err);

/* Pool settings; fields left at their defaults are not sent (the server's defaults apply). */
typedef struct {
  double prior_alpha, prior_beta, decay, target, band_low, band_high; /* NAN: server default */
  int strategy;                                                      /* MOPPS__V1__STRATEGY__*, 0: default */
  int has_seed;
  uint64_t seed;
  int strict_ids;
} mopps_pool_config;

mopps_pool_config mopps_pool_config_default(void);

typedef struct {
  char name[129];
  mopps_pool_config config; /* every field set: the values in force */
  uint64_t prompt_count, select_count, update_count;
} mopps_pool_info;

int mopps_health(mopps_client *c, char *status, size_t status_size, char *version, size_t version_size,
                 mopps_error *err);
int mopps_create_pool(mopps_client *c, const char *pool, const mopps_pool_config *config, mopps_pool_info *info,
                      mopps_error *err);
int mopps_drop_pool(mopps_client *c, const char *pool, mopps_error *err);
/* *pools is malloc'd (free it). */
int mopps_list_pools(mopps_client *c, mopps_pool_info **pools, size_t *n, mopps_error *err);
/* priors may be NULL (both or neither). */
int mopps_register(mopps_client *c, const char *pool, const uint64_t *ids, size_t n, const double *prior_alpha,
                   const double *prior_beta, uint64_t *added, mopps_error *err);

typedef struct {
  const char *pool;
  uint32_t batch_size;
  const uint64_t *candidates; /* NULL: server-drawn (candidate_count) or all registered prompts */
  size_t n_candidates;
  uint32_t candidate_count;
  int strategy;               /* 0: the pool's */
  int return_means;
  const char *request_id;     /* NULL: a fresh one */
} mopps_select_args;

mopps_select_args mopps_select_args_default(const char *pool, uint32_t batch_size);

typedef struct {
  uint64_t *ids;   /* n each, malloc'd; mopps_selection_free releases them */
  float *samples;
  double *means;   /* with return_means, else NULL */
  size_t n;
  uint64_t select_index;
} mopps_selection;

int mopps_select(mopps_client *c, const mopps_select_args *args, mopps_selection *out, mopps_error *err);
void mopps_selection_free(mopps_selection *s);

/* trials may be NULL: then `rollouts` trials for every id. request_id NULL: a fresh one. */
int mopps_update(mopps_client *c, const char *pool, const uint64_t *ids, const double *successes,
                 const uint32_t *trials, size_t n, uint32_t rollouts, const char *request_id, uint64_t *updated,
                 int *duplicate, mopps_error *err);

typedef struct {
  uint64_t *ids; /* n each, malloc'd; mopps_posteriors_free releases them */
  double *alpha;
  double *beta;
  size_t n;
} mopps_posteriors;

/* ids NULL: every registered prompt. */
int mopps_get(mopps_client *c, const char *pool, const uint64_t *ids, size_t n, mopps_posteriors *out,
              mopps_error *err);
void mopps_posteriors_free(mopps_posteriors *p);

/* Import sets posteriors (names may be NULL); Export returns every posterior (free with
 * mopps_posteriors_free). */
int mopps_import(mopps_client *c, const char *pool, const uint64_t *ids, const double *alpha, const double *beta,
                 size_t n, uint64_t *imported, mopps_error *err);
int mopps_export(mopps_client *c, const char *pool, mopps_posteriors *out, mopps_error *err);

/* The less frequent methods return the generated protobuf-c message: free it with the matching
 * mopps__v1__*__free_unpacked(reply, NULL). */
int mopps_snapshot(mopps_client *c, const char *pool, const char *tag, Mopps__V1__SnapshotResponse **reply,
                   mopps_error *err);
int mopps_restore(mopps_client *c, const char *pool, const char *tag, mopps_pool_info *info, mopps_error *err);
int mopps_list_snapshots(mopps_client *c, const char *pool, Mopps__V1__ListSnapshotsResponse **reply,
                         mopps_error *err);
int mopps_stats(mopps_client *c, Mopps__V1__StatsResponse **reply, mopps_error *err);

/* The shortest positional decimal that reads back to the same float ("1", "4.5", "0.3"): the
 * rule the conformance programs print posteriors with. buf needs 64 bytes. */
void mopps_format_float32(float value, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
