
/*
 * Copyright (C) ngx_x402 authors
 */


/*
 * The 402 as a page for people: what a browser that opens a gated URL
 * gets.  Self-contained (no external resource: nothing to load, nothing
 * to track), readable on a phone, every configured or requested value
 * escaped.  The terms are the offer's; PAYMENT-REQUIRED still carries them
 * for clients.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_x402_module.h"
#include "ngx_http_x402_page.h"


/* the page without the values that vary in length */
#define NGX_HTTP_X402_PAGE_SIZE       6144
/* a per-token price or the symbol, as much of it as is shown */
#define NGX_HTTP_X402_PAGE_VALUE_MAX  64


static u_char *ngx_http_x402_page_row(u_char *p, const char *name,
    u_char *value, size_t len);
static u_char *ngx_http_x402_page_per_1k(ngx_http_request_t *r, u_char *p,
    const char *name, ngx_http_complex_value_t *cv, ngx_str_t *symbol);


static const char  ngx_http_x402_page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, "
    "initial-scale=1\">\n"
    "<title>402 Payment Required</title>\n"
    "<style>\n"
    "body{font:16px/1.5 system-ui,sans-serif;max-width:40em;"
    "margin:1em auto;padding:0 1em;color:#222}\n"
    "h1{font-size:1.5em}.price{font-size:1.4em;font-weight:600}\n"
    "table{border-collapse:collapse;width:100%;table-layout:fixed}\n"
    "th,td{text-align:left;vertical-align:top;padding:.3em .5em;"
    "border-bottom:1px solid #ddd;overflow-wrap:anywhere}\n"
    "th{width:30%;font-weight:500;color:#555}\n"
    "code{overflow-wrap:anywhere;font-size:.9em}\n"
    ".refused{color:#a00}\n"
    "</style>\n</head>\n<body>\n"
    "<h1>Payment required</h1>\n";


ngx_int_t
ngx_http_x402_page(ngx_http_request_t *r, ngx_http_x402_loc_conf_t *xlcf,
    x402_offer *offer, ngx_str_t *url, const char *error, ngx_str_t *body)
{
    u_char       *p, row[X402_AMOUNT_STR_MAX + X402_U256_DEC_MAX + 128];
    size_t        len, elen;
    ngx_uint_t    upto;
    const char   *network;
    char          amount[X402_U256_DEC_MAX];
    char          tokens[X402_AMOUNT_STR_MAX];
    char          address[X402_ADDRESS_STR_LEN];

    upto = (xlcf->scheme == X402_SCHEME_UPTO);

    /* "Payment required" says nothing a page about it does not */
    if (error != NULL
        && x402_reason_parse(error)
           == X402_R_PAYMENT_REQUIRED)
    {
        error = NULL;
    }

    elen = error ? ngx_strlen(error) : 0;

    len = NGX_HTTP_X402_PAGE_SIZE
          + 6 * (xlcf->description.len + url->len + elen
                 + xlcf->asset_symbol.len * 4)
          + 32 * NGX_HTTP_X402_PAGE_VALUE_MAX;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    p = ngx_cpymem(p, ngx_http_x402_page_head,
                   sizeof(ngx_http_x402_page_head) - 1);

    if (xlcf->description.len) {
        p = ngx_cpymem(p, "<p>", 3);
        p = (u_char *) ngx_escape_html(p, xlcf->description.data,
                                       xlcf->description.len);
        p = ngx_cpymem(p, "</p>\n", 5);
    }

    if (error != NULL) {
        p = ngx_cpymem(p, "<p class=\"refused\">The payment was refused: "
                       "<code>",
                       sizeof("<p class=\"refused\">The payment was "
                              "refused: <code>") - 1);
        p = (u_char *) ngx_escape_html(p, (u_char *) error, elen);
        p = ngx_cpymem(p, "</code></p>\n", sizeof("</code></p>\n") - 1);
    }

    if (offer != NULL) {
        x402_u256_format_dec(amount, &offer->amount);
        x402_amount_format(tokens, &offer->amount,
                           (unsigned) xlcf->decimals);

        p = ngx_sprintf(p, "<p class=\"price\">%s%s ",
                        upto ? "Up to " : "", tokens);
        p = (u_char *) ngx_escape_html(p, xlcf->asset_symbol.data,
                                       xlcf->asset_symbol.len);
        p = ngx_sprintf(p, "</p>\n");

    } else {
        p = ngx_sprintf(p, "<p>The price depends on the request (for "
                        "example the model named in its JSON body); this "
                        "request names none that has a price.</p>\n");
    }

    p = ngx_cpymem(p, "<table>\n", sizeof("<table>\n") - 1);
    p = ngx_http_x402_page_row(p, "Resource", url->data, url->len);

    if (offer != NULL) {
        len = ngx_sprintf(row, "%s (%s atomic units, %i decimals)", tokens,
                          amount, xlcf->decimals) - row;
        p = ngx_http_x402_page_row(p, upto ? "Maximum price" : "Price", row,
                                   len);
    }

    if (upto) {
        p = ngx_http_x402_page_per_1k(r, p, "Input tokens",
                                      xlcf->input_price, &xlcf->asset_symbol);
        p = ngx_http_x402_page_per_1k(r, p, "Output tokens",
                                      xlcf->output_price,
                                      &xlcf->asset_symbol);
    }

    x402_address_format(address, &xlcf->offer.asset);
    p = ngx_http_x402_page_row(p, "Asset", xlcf->asset_symbol.data,
                               xlcf->asset_symbol.len);
    p = ngx_sprintf(p, "<tr><th></th><td><code>%s</code></td></tr>\n",
                    address);

    network = x402_network_name(xlcf->offer.chain_id);
    len = ngx_sprintf(row, "%s (eip155:%uL)", network ? network : "chain",
                      xlcf->offer.chain_id) - row;
    p = ngx_http_x402_page_row(p, "Network", row, len);

    x402_address_format(address, &xlcf->offer.pay_to);
    p = ngx_sprintf(p, "<tr><th>Pay to</th><td><code>%s</code></td></tr>\n"
                    "<tr><th>Scheme</th><td><code>%s</code> (Permit2)"
                    "</td></tr>\n", address, upto ? "upto" : "exact");

    if (upto) {
        x402_address_format(address, &xlcf->offer.facilitator);
        p = ngx_sprintf(p, "<tr><th>Facilitator</th><td><code>%s</code>"
                        "</td></tr>\n", address);
    }

    p = ngx_sprintf(p, "<tr><th>Signature valid for</th><td>%T s</td>"
                    "</tr>\n</table>\n"
                    "<h2>How to pay</h2>\n"
                    "<p>This resource is sold with the x402 protocol "
                    "(version 2); a browser cannot pay by itself. Use an "
                    "x402 client (for example <code>@x402/fetch</code>) "
                    "with a wallet that holds the asset:</p>\n<ol>\n"
                    "<li>approve Permit2 "
                    "(<code>0x000000000022D473030F116dDEE9F6B43aC78BA3"
                    "</code>) for the asset, once;</li>\n"
                    "<li>read these terms from the "
                    "<code>PAYMENT-REQUIRED</code> response header "
                    "(base64 JSON);</li>\n"
                    "<li>sign the Permit2 authorization and send the request "
                    "again with it in the <code>PAYMENT-SIGNATURE</code> "
                    "header.</li>\n</ol>\n</body>\n</html>\n",
                    xlcf->max_timeout);

    body->len = p - body->data;

    return NGX_OK;
}


static u_char *
ngx_http_x402_page_row(u_char *p, const char *name, u_char *value,
    size_t len)
{
    p = ngx_sprintf(p, "<tr><th>%s</th><td>", name);
    p = (u_char *) ngx_escape_html(p, value, len);

    return ngx_cpymem(p, "</td></tr>\n", sizeof("</td></tr>\n") - 1);
}


/* An upto price per 1000 tokens, as configured (for this request). */

static u_char *
ngx_http_x402_page_per_1k(ngx_http_request_t *r, u_char *p,
    const char *name, ngx_http_complex_value_t *cv, ngx_str_t *symbol)
{
    u_char     row[NGX_HTTP_X402_PAGE_VALUE_MAX * 2 + 32];
    size_t     len;
    ngx_str_t  value;

    if (cv == NULL || ngx_http_complex_value(r, cv, &value) != NGX_OK
        || value.len == 0)
    {
        return p;
    }

    len = ngx_min(value.len, NGX_HTTP_X402_PAGE_VALUE_MAX);
    len = ngx_sprintf(row, "%*s %*s per 1000", len, value.data,
                      ngx_min(symbol->len, NGX_HTTP_X402_PAGE_VALUE_MAX),
                      symbol->data)
          - row;

    return ngx_http_x402_page_row(p, name, row, len);
}
