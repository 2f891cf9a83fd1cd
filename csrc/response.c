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
  [MPNS_NOT_MPNS] = -1, [MPNS_UNEXPECTED] = -1
};

/* The header MPNS sends with each status. An answer without it did not come
 * from MPNS (a proxy, a captive portal, a wrong host or path), so it proves
 * nothing: above all, a bare 404 must not make anyone delete a channel.
 * The protocol gives 400, 401, 403, 405 and 503 no MPNS headers, so for
 * those the status alone has to do. */
enum { NONE, NOTIFICATION, EXPIRED };

static const struct { int status; int needs; mpns_outcome outcome; } by_status[] = {
  { 400, NONE, MPNS_BAD_REQUEST }, { 401, NONE, MPNS_UNAUTHORIZED },
  { 403, NONE, MPNS_FORBIDDEN }, { 404, EXPIRED, MPNS_EXPIRED },
  { 405, NONE, MPNS_METHOD_NOT_ALLOWED }, { 406, NOTIFICATION, MPNS_THROTTLED },
  { 412, NOTIFICATION, MPNS_INACTIVE }, { 503, NONE, MPNS_UNAVAILABLE }
};

static const struct { const char *status; mpns_outcome outcome; } by_notification[] = {
  { "Received", MPNS_RECEIVED }, { "QueueFull", MPNS_QUEUE_FULL },
  { "Suppressed", MPNS_SUPPRESSED }, { "Dropped", MPNS_DROPPED }
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* A 200 says what happened in X-NotificationStatus; without it, it is not
 * MPNS's 200, and with a value the protocol does not know, unexpected. */
static mpns_outcome classify_200(const char *notification) {
  size_t i;
  if (!notification) return MPNS_NOT_MPNS;
  for (i = 0; i < COUNT_OF(by_notification); i++)
    if (strcasecmp(notification, by_notification[i].status) == 0)
      return by_notification[i].outcome;
  return MPNS_UNEXPECTED;
}

static int proven(int needs, const char *notification, const char *subscription) {
  if (needs == NOTIFICATION) return notification != NULL;
  if (needs == EXPIRED) return subscription && strcasecmp(subscription, "Expired") == 0;
  return 1;
}

static mpns_outcome classify(int status, const char *notification, const char *subscription) {
  size_t i;
  if (status == 200) return classify_200(notification);
  for (i = 0; i < COUNT_OF(by_status); i++)
    if (by_status[i].status == status)
      return proven(by_status[i].needs, notification, subscription) ? by_status[i].outcome
                                                                 : MPNS_NOT_MPNS;
  return MPNS_UNEXPECTED;  /* any other status, 100..599 or not */
}

mpns_advice mpns_answer_advise(int status, const char *notification, const char *subscription) {
  mpns_advice a;
  a.outcome = classify(status, notification, subscription);
  a.ok = a.outcome == MPNS_RECEIVED;
  a.delete_channel = a.outcome == MPNS_EXPIRED;
  a.retry_after = retry_after[a.outcome];
  return a;
}

const char *mpns_outcome_name(mpns_outcome o) { return outcome_names[o]; }
