#include "api/api_allowlist.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "report/hostname.h"

#define ITEM_MAX 256

static enum err_code push(struct api_allowlist *list, const char *p, size_t len)
{
    char *item = strndup(p, len);
    char **grown = item != NULL ? realloc(list->items, (list->n + 1) * sizeof(*grown)) : NULL;
    if (grown == NULL) {
        free(item);
        return ERR_NOMEM;
    }
    for (char *c = item; list->hosts && *c; c++)
        *c = (char)tolower((unsigned char)*c);
    list->items = grown;
    list->items[list->n++] = item;
    return ERR_OK;
}

enum err_code api_allowlist_parse(const char *text, bool hosts, struct api_allowlist *out,
                                  struct err *err)
{
    memset(out, 0, sizeof(*out));
    out->hosts = hosts;
    out->all = text == NULL || text[0] == '\0';
    for (const char *p = out->all ? "" : text; *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t len = strcspn(p, ",");
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0 && len < ITEM_MAX && push(out, p, len) != ERR_OK)
            return err_set(err, ERR_NOMEM, NULL, "out of memory");
        p += strcspn(p, ",");
    }
    return ERR_OK;
}

bool api_allowlist_allows(const struct api_allowlist *list, const char *value)
{
    if (list->all)
        return true;
    if (value == NULL)
        return false;
    for (size_t i = 0; i < list->n; i++) {
        if (list->hosts ? hostname_matches_pattern(value, list->items[i])
                        : strcmp(value, list->items[i]) == 0)
            return true;
    }
    return false;
}

void api_allowlist_cleanup(struct api_allowlist *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->n; i++)
        free(list->items[i]);
    free(list->items);
    memset(list, 0, sizeof(*list));
}
