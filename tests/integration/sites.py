"""tests/integration/sites.py: sites as the bills tests see them: ES256 key pairs made by the
test, site-signed tokens, and a stack that loads the bills plugin with those sites.

  start_bills_stack(start_stack, keydir, name, sites, grace_minutes, config=None,
                    extra_plugins=(), sections=None, **bills)
        -> (Api, {site id: Site}); sites = {id: (currency, "+HH:MM"[, clouds])}; config:
        top-level ecd.conf keys; extra_plugins: loaded besides the defaults and bills
        ("workspace", "guance"); sections: other plugins' config sections; bills: the
        [bills] section
  Site.token(**claims)   a fresh signed token (new jti); Site.last_midnight()
  post_usage(api, site, records, ..., register=True)   registers the records' workspaces
        with the site (register_workspace) and POSTs them
  hour_text(unix_s)      "YYYY-MM-DDTHH:00:00Z"; local_date(site, unix_s) "YYYY-MM-DD"
  race(n, fn)            fn(0..n-1) in n threads released together
"""

import datetime
import json
import re
import threading
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import ecapi
from conftest import BUILDDIR, PLUGINS, ROOT
from stack import default_plugins

HOUR = 3600
DAY = 86400


class Site:
    """A site: its id, its zone's offset in seconds, and its signing key."""

    def __init__(self, site_id, offset_s, key):
        self.id = site_id
        self.offset_s = offset_s
        self.key = key
        self.registered = set()  # workspaces registered through register_workspace

    def token(self, **over):
        now = ecapi.now()
        claims = {"iss": self.id, "aud": "expense-center", "iat": now, "exp": now + 120,
                  "jti": uuid.uuid4().hex}
        claims.update(over)
        return es256_sign({"alg": "ES256", "typ": "JWT", "kid": self.id + "-k1"}, claims, self.key)

    def last_midnight(self):
        """Unix seconds of the last local 00:00 at or before now."""
        return (ecapi.now() + self.offset_s) // DAY * DAY - self.offset_s


def es256_sign(header, claims, key):
    signing_input = (ecapi.b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     ecapi.b64url(json.dumps(claims, separators=(",", ":")).encode()))
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + ecapi.b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def hour_text(unix_s):
    return datetime.datetime.fromtimestamp(unix_s, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:00:00Z")


def local_date(site, unix_s):
    return datetime.datetime.fromtimestamp(unix_s + site.offset_s,
                                           datetime.timezone.utc).strftime("%Y-%m-%d")


def offset_seconds(tz):
    sign = 1 if tz[0] == "+" else -1
    return sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)


def start_bills_stack(start_stack, keydir, name, sites, grace_minutes, config=None,
                      extra_plugins=(), sections=None, **bills):
    blocks, made = [], {}
    for site_id, (currency, tz, *clouds) in sites.items():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = keydir / (site_id + ".pem")
        pem.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        blocks.append("[site.%s]\ncurrency = %s\ntimezone = %s\nkey = %s-k1 %s\n"
                      % (site_id, currency, tz, site_id, pem)
                      + ("clouds = %s\n" % clouds[0] if clouds else ""))
        made[site_id] = Site(site_id, offset_seconds(tz), key)
    # bills reads the workspace plugin's registry of the sites' workspaces
    plugins = list(PLUGINS or default_plugins(str(BUILDDIR / "modules"))) + ["bills"]
    for p in ("workspace",) + tuple(extra_plugins):
        if p not in plugins:
            plugins.append(p)
    section = {"price_list": str(ROOT / "etc" / "price-list.json"),
               "usage_grace_minutes": grace_minutes}
    section.update(bills)
    # A full batch of 1,000 records is about 130 KiB: the limit sites' calls need.
    top = {"body_limit": 262144}
    top.update(config or {})
    all_sections = dict(sections or {})
    all_sections["bills"] = section
    stack = start_stack(name, workers=3, plugins=plugins, extra_config="\n".join(blocks),
                        config=top, nginx_vars={"BODY_LIMIT": "256k"}, sections=all_sections)
    return ecapi.Api(stack), made


WORKSPACE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def register_workspace(api, site, workspace):
    """Registers the workspace with its site (the site's signed call), once per test run."""
    if workspace in site.registered:
        return
    r = api("PUT", "/api/v1/sites/workspaces/" + workspace,
            json={"name": "Prod", "owner_user": "u-owner", "state": "active"},
            headers={"Authorization": "Bearer " + site.token()})
    assert r.status_code in (200, 201), r.text
    site.registered.add(workspace)


def post_usage(api, site, records, token=None, path_site=None, register=True):
    """POSTs the records as the site; each workspace they name is registered with the site
    first unless register is False (what a site does before it sends usage)."""
    for w in sorted({r.get("workspace") for r in records if isinstance(r, dict)} - {None}):
        if register and isinstance(w, str) and WORKSPACE_ID.match(w):
            register_workspace(api, site, w)
    headers = {} if token is False else {"Authorization": "Bearer " + (token or site.token())}
    return api("POST", "/api/v1/sites/%s/usage" % (path_site or site.id),
               json={"records": records}, headers=headers)


def record(workspace, at, item="logs", quantity=1000, retention=7):
    return {"workspace": workspace, "item": item, "hour": hour_text(at), "quantity": quantity,
            "retention": retention}


def new_workspace():
    return "ws-" + uuid.uuid4().hex[:12]


def race(n, fn):
    """Runs fn(0..n-1) in n threads released together; their results in order."""
    out, barrier = [None] * n, threading.Barrier(n)

    def go(i):
        barrier.wait()
        out[i] = fn(i)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out
