/* config_json — typed config.json field readers (see config_json.h). */
#include "model/config_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cj_has(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  return v && !json_is_null(v);
}

int cj_int(json_t *obj, const char *key, const char *shown, int required, int *out,
           const char *path, lethe_err *err) {
  if (!cj_has(obj, key)) {
    if (required)
      return lethe_errf(err, LETHE_E_CONFIG, "%s: required field \"%s\" is missing", path, shown);
    return 0;
  }
  json_t *v = json_object_get(obj, key);
  if (!json_is_integer(v))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"%s\" must be an integer", path, shown);
  json_int_t x = json_integer_value(v);
  if (x < -2147483647LL || x > 2147483647LL)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"%s\" = %lld is out of range", path, shown,
                      (long long)x);
  *out = (int)x;
  return 0;
}

int cj_real(json_t *obj, const char *key, const char *shown, double *out, const char *path,
            lethe_err *err) {
  if (!cj_has(obj, key)) return 0;
  json_t *v = json_object_get(obj, key);
  if (!json_is_number(v))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"%s\" must be a number", path, shown);
  *out = json_number_value(v);
  return 0;
}

int cj_bool(json_t *obj, const char *key, const char *shown, int *out, const char *path,
            lethe_err *err) {
  if (!cj_has(obj, key)) return 0;
  json_t *v = json_object_get(obj, key);
  if (!json_is_boolean(v))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"%s\" must be true or false", path,
                      shown);
  *out = json_is_true(v);
  return 0;
}

int cj_string(json_t *obj, const char *key, const char *shown, const char **out,
              const char *path, lethe_err *err) {
  *out = NULL;
  if (!cj_has(obj, key)) return 0;
  json_t *v = json_object_get(obj, key);
  if (!json_is_string(v))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"%s\" must be a string", path, shown);
  *out = json_string_value(v);
  return 0;
}

void cj_format_real(char *buf, size_t cap, double v) {
  if (v == floor(v) && fabs(v) < 1e15) {
    snprintf(buf, cap, "%.1f", v);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
}
