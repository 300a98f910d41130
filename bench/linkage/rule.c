/* linli-bench-linkage-rule: the practical ceiling of bench/linkage.
 *
 * One hard-wired linkage rule on bare libmosquitto, nothing else: subscribe (QoS 1) to every
 * device's up/event, and for each "gas.leak" from a sensor listed in the rule table publish an
 * "unlock" command (QoS 1, the payload of docs/protocol.md with cause = the event) to every door
 * controller of the sensor's building. No store, no registry, no retries, no JSON library: the
 * event is parsed just enough to find its type and id. It shows what the broker allows a rule
 * to do on this machine, so that linlid's engine and Node-RED can be compared against it.
 *
 * Rule table (--rules FILE), one sensor per line, fields separated by spaces:
 *   <compound> <gas sensor id> <door id> [<door id> ...]
 * Prints "rule: ready" once the subscription is granted, and on exit (SIGINT/SIGTERM)
 *   rule: events=N matched=N commands=N unknown_sensor=N unparsable=N
 * Thread-safety: single-threaded (libmosquitto's loop runs on the main thread).
 */
#define _POSIX_C_SOURCE 200809L

#include <mosquitto.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SENSORS 4096
#define MAX_DOORS 64
#define MAX_ID 65

struct sensor {
  char compound[MAX_ID];
  char id[MAX_ID];
  int ndoors;
  char topics[MAX_DOORS][160]; /* linli/v1/<compound>/<door>/down/command */
};

static struct sensor sensors[MAX_SENSORS];
static int nsensors;
static volatile sig_atomic_t stop;
static struct mosquitto *mosq;
static long long n_events, n_matched, n_commands, n_unknown, n_unparsable, next_command;
static int qos = 1;
static const char *id_prefix = "c";

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int load_rules(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    return -1;
  }
  char line[8192];
  int lineno = 0;
  while (fgets(line, sizeof line, f)) {
    ++lineno;
    char *save = NULL;
    char *compound = strtok_r(line, " \t\r\n", &save);
    if (!compound || compound[0] == '#') continue;
    char *sensor = strtok_r(NULL, " \t\r\n", &save);
    if (!sensor || strlen(compound) >= MAX_ID || strlen(sensor) >= MAX_ID || nsensors == MAX_SENSORS) {
      fprintf(stderr, "%s:%d: expected <compound> <sensor> <door>... (ids < %d chars, < %d sensors)\n", path,
              lineno, MAX_ID, MAX_SENSORS);
      fclose(f);
      return -1;
    }
    struct sensor *s = &sensors[nsensors++];
    snprintf(s->compound, sizeof s->compound, "%s", compound);
    snprintf(s->id, sizeof s->id, "%s", sensor);
    char *door;
    while ((door = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
      if (s->ndoors == MAX_DOORS || strlen(door) >= MAX_ID) {
        fprintf(stderr, "%s:%d: too many doors or door id too long\n", path, lineno);
        fclose(f);
        return -1;
      }
      snprintf(s->topics[s->ndoors++], sizeof s->topics[0], "linli/v1/%s/%s/down/command", compound, door);
    }
  }
  fclose(f);
  return nsensors;
}

/* The string value of "key" in a JSON object text, copied into out (at most n-1 bytes): finds the
 * first `"key"` followed by a colon and a string without escapes. Minimal on purpose. */
static int json_string(const char *p, size_t len, const char *key, char *out, size_t n) {
  char pat[32];
  int pl = snprintf(pat, sizeof pat, "\"%s\"", key);
  const char *end = p + len;
  for (const char *q = p; q + pl <= end; ++q) {
    if (memcmp(q, pat, (size_t)pl) != 0) continue;
    const char *v = q + pl;
    while (v < end && (*v == ' ' || *v == '\t')) ++v;
    if (v >= end || *v != ':') continue; /* a value equal to the key's name, not the key */
    ++v;
    while (v < end && (*v == ' ' || *v == '\t')) ++v;
    if (v >= end || *v != '"') return -1;
    const char *s = ++v;
    while (v < end && *v != '"' && *v != '\\') ++v;
    if (v >= end || *v != '"' || (size_t)(v - s) >= n || v == s) return -1;
    memcpy(out, s, (size_t)(v - s));
    out[v - s] = '\0';
    return 0;
  }
  return -1;
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg) {
  (void)ud;
  ++n_events;
  /* linli/v1/<compound>/<device>/up/event */
  const char *t = msg->topic;
  if (strncmp(t, "linli/v1/", 9) != 0) return;
  const char *compound = t + 9;
  const char *slash = strchr(compound, '/');
  if (!slash) return;
  const char *device = slash + 1;
  const char *slash2 = strchr(device, '/');
  if (!slash2) return;
  const size_t clen = (size_t)(slash - compound), dlen = (size_t)(slash2 - device);
  const char *payload = msg->payload;
  const size_t plen = (size_t)msg->payloadlen;
  char type[64], id[MAX_ID];
  if (!payload || json_string(payload, plen, "type", type, sizeof type) != 0) {
    ++n_unparsable;
    return;
  }
  if (strcmp(type, "gas.leak") != 0) return;
  if (json_string(payload, plen, "id", id, sizeof id) != 0) {
    ++n_unparsable;
    return;
  }
  const struct sensor *s = NULL;
  for (int i = 0; i < nsensors; ++i) {
    if (strlen(sensors[i].id) == dlen && memcmp(sensors[i].id, device, dlen) == 0 &&
        strlen(sensors[i].compound) == clen && memcmp(sensors[i].compound, compound, clen) == 0) {
      s = &sensors[i];
      break;
    }
  }
  if (!s) {
    ++n_unknown;
    return;
  }
  ++n_matched;
  const int64_t ts = now_ms();
  char cmd[512];
  for (int i = 0; i < s->ndoors; ++i) {
    int len = snprintf(cmd, sizeof cmd,
                       "{\"id\":\"%s-%lld\",\"ts\":%lld,\"name\":\"unlock\",\"args\":{\"duration_s\":30},"
                       "\"expires\":%lld,\"cause\":{\"kind\":\"event\",\"id\":\"%s\"}}",
                       id_prefix, ++next_command, (long long)ts, (long long)(ts + 30000), id);
    int rc = mosquitto_publish(m, NULL, s->topics[i], len, cmd, qos, false);
    if (rc == MOSQ_ERR_SUCCESS) {
      ++n_commands;
    } else {
      fprintf(stderr, "rule: publish failed: %s\n", mosquitto_strerror(rc));
    }
  }
}

static void on_connect(struct mosquitto *m, void *ud, int rc) {
  (void)ud;
  if (rc != 0) {
    fprintf(stderr, "rule: connection refused: %s\n", mosquitto_connack_string(rc));
    return;
  }
  mosquitto_subscribe(m, NULL, "linli/v1/+/+/up/event", qos);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted) {
  (void)m, (void)ud, (void)mid;
  if (n < 1 || granted[0] > 2) {
    fprintf(stderr, "rule: subscription refused by the broker\n");
    stop = 1;
    return;
  }
  printf("rule: ready\n");
  fflush(stdout);
}

static void usage(void) {
  fprintf(stderr,
          "usage: linli-bench-linkage-rule --rules FILE [--host H] [--port P] [--username U]\n"
          "         [--password PW | env LINLI_RULE_PASSWORD] [--client-id ID] [--qos 0|1] [--no-nodelay]\n");
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1", *user = NULL, *rules = NULL, *client_id = "linli-bench-linkage-rule";
  const char *password = getenv("LINLI_RULE_PASSWORD");
  int port = 1883, nodelay = 1;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--no-nodelay")) {
      nodelay = 0;
      continue;
    }
    if (!v) {
      usage();
      return 2;
    }
    ++i;
    if (!strcmp(a, "--host")) host = v;
    else if (!strcmp(a, "--port")) port = atoi(v);
    else if (!strcmp(a, "--username")) user = v;
    else if (!strcmp(a, "--password")) password = v;
    else if (!strcmp(a, "--client-id")) client_id = v;
    else if (!strcmp(a, "--rules")) rules = v;
    else if (!strcmp(a, "--qos")) qos = atoi(v);
    else {
      usage();
      return 2;
    }
  }
  if (!rules || port < 1 || port > 65535 || qos < 0 || qos > 1) {
    usage();
    return 2;
  }
  if (load_rules(rules) <= 0) {
    fprintf(stderr, "rule: no sensors in %s\n", rules);
    return 2;
  }
  /* Command ids unique across restarts: the prefix is the start time. */
  static char prefix[32];
  snprintf(prefix, sizeof prefix, "c%llx", (unsigned long long)now_ms());
  id_prefix = prefix;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  mosquitto_lib_init();
  mosq = mosquitto_new(client_id, true, NULL);
  if (!mosq) {
    fprintf(stderr, "rule: mosquitto_new failed\n");
    return 1;
  }
  mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, nodelay);
  mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, 1000);
  if (user) mosquitto_username_pw_set(mosq, user, password);
  mosquitto_connect_callback_set(mosq, on_connect);
  mosquitto_subscribe_callback_set(mosq, on_subscribe);
  mosquitto_message_callback_set(mosq, on_message);
  int rc = mosquitto_connect(mosq, host, port, 60);
  if (rc != MOSQ_ERR_SUCCESS) {
    fprintf(stderr, "rule: cannot connect to %s:%d: %s\n", host, port, mosquitto_strerror(rc));
    return 1;
  }
  while (!stop) {
    rc = mosquitto_loop(mosq, 100, 1);
    if (rc != MOSQ_ERR_SUCCESS && !stop) {
      fprintf(stderr, "rule: connection lost (%s), reconnecting\n", mosquitto_strerror(rc));
      struct timespec backoff = {0, 200 * 1000 * 1000};
      nanosleep(&backoff, NULL);
      mosquitto_reconnect(mosq);
    }
  }
  printf("rule: events=%lld matched=%lld commands=%lld unknown_sensor=%lld unparsable=%lld\n", n_events, n_matched,
         n_commands, n_unknown, n_unparsable);
  fflush(stdout);
  mosquitto_disconnect(mosq);
  mosquitto_destroy(mosq);
  mosquitto_lib_cleanup();
  return 0;
}
