/*
 * response.c: what an MPNS answer means and what the sender should do,
 * one row per line of the protocol's response table.
 */
#include <strings.h>
#include "mpns.h"

static const char *const outcome_names[MPNS_OUTCOME_COUNT] = {
#define MPNS_OUTCOME(id, name) name,
#include "outcomes.h"
#undef MPNS_OUTCOME
};

/* Seconds to wait before trying again; -1: do not retry. The protocol says
 * minutes of backoff for a full queue or an unavailable service, and at
 * most one try an hour when throttled or inactive. */
static const int retry_after[MPNS_OUTCOME_COUNT] = {
  [MPNS_RECEIVED] = -1, [MPNS_QUEUE_FULL] = 60, [MPNS_SUPPRESSED] = -1,
  [MPNS_DROPPED] = -1, [MPNS_BAD_REQUEST] = -1, [MPNS_UNAUTHORIZED] = -1,
  [MPNS_FORBIDDEN] = -1, [MPNS_EXPIRED] = -1, [MPNS_METHOD_NOT_ALLOWED] = -1,
  [MPNS_THROTTLED] = 3600, [MPNS_INACTIVE] = 3600, [MPNS_UNAVAILABLE] = 60,
  [MPNS_UNEXPECTED] = -1
};

static const struct { int status; mpns_outcome outcome; } by_status[] = {
  { 400, MPNS_BAD_REQUEST }, { 401, MPNS_UNAUTHORIZED }, { 403, MPNS_FORBIDDEN },
  { 404, MPNS_EXPIRED }, { 405, MPNS_METHOD_NOT_ALLOWED }, { 406, MPNS_THROTTLED },
  { 412, MPNS_INACTIVE }, { 503, MPNS_UNAVAILABLE }
};

static const struct { const char *status; mpns_outcome outcome; } by_notification[] = {
  { "Received", MPNS_RECEIVED }, { "QueueFull", MPNS_QUEUE_FULL },
  { "Suppressed", MPNS_SUPPRESSED }, { "Dropped", MPNS_DROPPED }
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* A 200 says what happened in X-NotificationStatus; other codes say it all. */
static mpns_outcome classify(int status, const char *notification) {
  size_t i;
  if (status == 200) {
    for (i = 0; notification && i < COUNT_OF(by_notification); i++)
      if (strcasecmp(notification, by_notification[i].status) == 0)
        return by_notification[i].outcome;
    return MPNS_UNEXPECTED;
  }
  for (i = 0; i < COUNT_OF(by_status); i++)
    if (by_status[i].status == status) return by_status[i].outcome;
  return MPNS_UNEXPECTED;
}

mpns_advice mpns_response_advise(int status, const char *notification) {
  mpns_advice a;
  a.outcome = classify(status, notification);
  a.ok = a.outcome == MPNS_RECEIVED;
  a.delete_channel = a.outcome == MPNS_EXPIRED;
  a.retry_after = retry_after[a.outcome];
  return a;
}

const char *mpns_outcome_name(mpns_outcome o) { return outcome_names[o]; }
