
/*
 * Copyright (C) ngx_x402 authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_phase.h"


ngx_int_t
ngx_http_x402_phase_add(ngx_conf_t *cf, ngx_http_phases phase,
    ngx_http_handler_pt handler)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[phase].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    if (phase == NGX_HTTP_LOG_PHASE) {
        /*
         * the LOG phase runs its handlers in order: the payment's end runs
         * before the access log, which then shows what it decided
         * ($x402_charged)
         */
        h = cmcf->phases[phase].handlers.elts;
        ngx_memmove(&h[1], &h[0], (cmcf->phases[phase].handlers.nelts - 1)
                                  * sizeof(ngx_http_handler_pt));
    }

    *h = handler;

    return NGX_OK;
}
