/*
 * A minimal moppsd client in C: libzmq + the protobuf-c code generated from proto/.
 * It proves the wire contract needs nothing from Swift or Python.
 *
 *   mopps-c-client ENDPOINT POOL
 *
 * Creates POOL (seed 7) unless it exists, selects 8 of 64 candidates (ids 1000..1063), reports
 * (id mod 5) successes out of 4 rollouts for each chosen id, reads the posteriors back, and prints
 * one line per chosen id: "ID SAMPLE SUCCESSES ALPHA BETA". Select and Update carry request ids and
 * are each sent twice, as a client retrying after a lost reply would: the Select must come back
 * identical and the Update as a duplicate. Exits non-zero on any error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "mopps/v1/selector.pb-c.h"

#define BATCH 8
#define CANDIDATES 64
#define ROLLOUTS 4

static void *socket_;

/* Sends [path][body] and receives [status][reply body]; returns the reply body (caller frees) or
 * exits with the status message. With allow_code, that status code is also accepted (returns NULL). */
static uint8_t *call(const char *method, const uint8_t *body, size_t len, size_t *reply_len, int allow_code) {
  char path[128];
  snprintf(path, sizeof path, "/mopps.v1.Selector/%s", method);
  if (zmq_send(socket_, path, strlen(path), ZMQ_SNDMORE) < 0 || zmq_send(socket_, body, len, 0) < 0) {
    fprintf(stderr, "%s: send failed: %s\n", method, zmq_strerror(zmq_errno()));
    exit(2);
  }
  zmq_msg_t status_msg, body_msg;
  zmq_msg_init(&status_msg);
  zmq_msg_init(&body_msg);
  if (zmq_msg_recv(&status_msg, socket_, 0) < 0 || zmq_msg_recv(&body_msg, socket_, 0) < 0) {
    fprintf(stderr, "%s: no reply: %s\n", method, zmq_strerror(zmq_errno()));
    exit(2);
  }
  Mopps__V1__Status *status =
      mopps__v1__status__unpack(NULL, zmq_msg_size(&status_msg), zmq_msg_data(&status_msg));
  if (status == NULL) {
    fprintf(stderr, "%s: reply status does not parse\n", method);
    exit(2);
  }
  int code = status->code;
  if (code != MOPPS__V1__CODE__OK && code != allow_code) {
    fprintf(stderr, "%s failed: code %d: %s\n", method, code, status->message);
    exit(3);
  }
  mopps__v1__status__free_unpacked(status, NULL);
  uint8_t *out = NULL;
  *reply_len = zmq_msg_size(&body_msg);
  if (code == MOPPS__V1__CODE__OK) {
    out = malloc(*reply_len + 1);
    memcpy(out, zmq_msg_data(&body_msg), *reply_len);
  }
  zmq_msg_close(&status_msg);
  zmq_msg_close(&body_msg);
  return out;
}

/* Packs any generated message into a malloc'd buffer. */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len) {
  *len = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(*len + 1);
  protobuf_c_message_pack(m, buf);
  return buf;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s ENDPOINT POOL\n", argv[0]);
    return 64;
  }
  void *context = zmq_ctx_new();
  socket_ = zmq_socket(context, ZMQ_REQ);
  int linger = 0, timeout_ms = 5000;
  zmq_setsockopt(socket_, ZMQ_LINGER, &linger, sizeof linger);
  zmq_setsockopt(socket_, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
  if (zmq_connect(socket_, argv[1]) != 0) {
    fprintf(stderr, "connect %s: %s\n", argv[1], zmq_strerror(zmq_errno()));
    return 2;
  }
  size_t len, reply_len;
  uint8_t *buf, *reply;

  /* CreatePool (ALREADY_EXISTS is fine: run twice against one server). */
  Mopps__V1__PoolConfig config;
  mopps__v1__pool_config__init(&config);
  config.seed_opt_case = MOPPS__V1__POOL_CONFIG__SEED_OPT_SEED;
  config.seed = 7;
  Mopps__V1__CreatePoolRequest create;
  mopps__v1__create_pool_request__init(&create);
  create.pool = argv[2];
  create.config = &config;
  buf = pack(&create.base, &len);
  free(call("CreatePool", buf, len, &reply_len, MOPPS__V1__CODE__ALREADY_EXISTS));
  free(buf);

  /* Select BATCH of CANDIDATES, ids as a repeated field (the packed bytes form works as well). */
  uint64_t candidates[CANDIDATES];
  for (int i = 0; i < CANDIDATES; i++) candidates[i] = 1000 + i;
  Mopps__V1__SelectRequest select;
  mopps__v1__select_request__init(&select);
  select.pool = argv[2];
  select.batch_size = BATCH;
  select.n_candidates = CANDIDATES;
  select.candidates = candidates;
  select.request_id = "c-client-select-1";
  buf = pack(&select.base, &len);
  reply = call("Select", buf, len, &reply_len, -1);
  size_t retry_len;
  uint8_t *retry = call("Select", buf, len, &retry_len, -1);
  free(buf);
  if (retry_len != reply_len || memcmp(retry, reply, reply_len) != 0) {
    fprintf(stderr, "Select: a retry with the same request_id got another batch\n");
    return 5;
  }
  free(retry);
  Mopps__V1__SelectResponse *chosen = mopps__v1__select_response__unpack(NULL, reply_len, reply);
  free(reply);
  if (chosen == NULL || chosen->n_ids != BATCH || chosen->n_samples != BATCH) {
    fprintf(stderr, "Select: unexpected reply\n");
    return 4;
  }

  /* Update with (id mod 5) successes out of ROLLOUTS each. */
  double successes[BATCH];
  for (int i = 0; i < BATCH; i++) successes[i] = (double)(chosen->ids[i] % 5); /* 0..4 <= ROLLOUTS */
  Mopps__V1__UpdateRequest update;
  mopps__v1__update_request__init(&update);
  update.pool = argv[2];
  update.n_ids = BATCH;
  update.ids = chosen->ids;
  update.n_successes = BATCH;
  update.successes = successes;
  update.rollouts = ROLLOUTS;
  update.request_id = "c-client-update-1";
  buf = pack(&update.base, &len);
  free(call("Update", buf, len, &reply_len, -1));
  reply = call("Update", buf, len, &reply_len, -1);
  free(buf);
  Mopps__V1__UpdateResponse *again = mopps__v1__update_response__unpack(NULL, reply_len, reply);
  free(reply);
  if (again == NULL || !again->duplicate) {
    fprintf(stderr, "Update: a retry with the same request_id was applied again\n");
    return 5;
  }
  mopps__v1__update_response__free_unpacked(again, NULL);

  /* Get the posteriors back. */
  Mopps__V1__GetRequest get;
  mopps__v1__get_request__init(&get);
  get.pool = argv[2];
  get.n_ids = BATCH;
  get.ids = chosen->ids;
  buf = pack(&get.base, &len);
  reply = call("Get", buf, len, &reply_len, -1);
  free(buf);
  Mopps__V1__GetResponse *posteriors = mopps__v1__get_response__unpack(NULL, reply_len, reply);
  free(reply);
  if (posteriors == NULL || posteriors->n_alpha != BATCH || posteriors->n_beta != BATCH) {
    fprintf(stderr, "Get: unexpected reply\n");
    return 4;
  }
  for (int i = 0; i < BATCH; i++) {
    printf("%" PRIu64 " %.6f %.1f %.6f %.6f\n", chosen->ids[i], chosen->samples[i], successes[i],
           posteriors->alpha[i], posteriors->beta[i]);
  }
  fflush(stdout);
  mopps__v1__get_response__free_unpacked(posteriors, NULL);
  mopps__v1__select_response__free_unpacked(chosen, NULL);
  zmq_close(socket_);
  zmq_ctx_term(context);
  return 0;
}
