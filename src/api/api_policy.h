/* api_policy — POST /v1/pin-policies/check (admin): a pin policy file against the server. */
#ifndef API_POLICY_H
#define API_POLICY_H

#include "http/http_server.h"

/*
 * The body is the policy file (network_security_config.xml or Info.plist, XML or binary).
 * 200 with the policy_check result; 400 invalid_policy (the detail names the line) when it
 * cannot be read. A domain's current chain: the keys declared for it, else the keys of the
 * publicly anchored chains reported for it in the last 30 days.
 */
void api_policy_check(void *ctx, struct http_request *req, struct http_reply *reply);

#endif
