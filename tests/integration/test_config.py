"""`ecd -t -c CONF`: the config test, like `nginx -t`. Each case gets its own work folder
(its own socket path), so nothing here touches a running stack."""

import ctypes.util
import os
import shutil
import socket
import subprocess

import pytest

from stack import Stack


@pytest.fixture
def conf(tmp_path, root, builddir, stack):
    """make(extra_top=None, extra_config=None, plugins=("account",), plugin_dir=None)
    -> (config path, Stack) of a config like the session stack's."""
    def make(extra_top=None, extra_config=None, plugins=("account",), plugin_dir=None):
        st = Stack(root, builddir, tmp_path / "w", workers=2, extra_config=extra_config,
                   config=dict(extra_top or {}), plugins=plugins, db_port=stack.db_port)
        if plugin_dir is not None:
            st.config_overrides["plugin_dir"] = str(plugin_dir)
        st._prepare_dirs()
        return st.write_config(), st
    return make


def ecd_t(builddir, path):
    return subprocess.run([str(builddir / "ecd"), "-t", "-c", str(path)], capture_output=True,
                          text=True, timeout=60)


def plugin_dir_with_account(tmp_path, builddir):
    d = tmp_path / "modules"
    d.mkdir()
    src = builddir / "modules" / "account.so"
    assert src.exists(), "%s is missing" % src
    os.symlink(src, d / "account.so")
    return d


def test_good_config(conf, builddir):
    path, st = conf()
    p = ecd_t(builddir, path)
    assert p.returncode == 0, (p.stdout, p.stderr)


def test_good_config_does_not_start_a_pool(conf, builddir):
    path, st = conf()
    p = ecd_t(builddir, path)
    assert p.returncode == 0, p.stderr
    # it exits: nothing is left listening on its socket
    if os.path.exists(st.socket_path):
        s = socket.socket(socket.AF_UNIX)
        try:
            with pytest.raises(OSError):
                s.connect(st.socket_path)
        finally:
            s.close()


def test_unknown_key(conf, builddir):
    path, _ = conf(extra_top={"frobnicate_level": "3"})
    p = ecd_t(builddir, path)
    assert p.returncode != 0
    assert "frobnicate_level" in p.stderr, p.stderr


@pytest.mark.parametrize("key,value", [("workers", "abc"), ("workers", "0"),
                                        ("body_limit", "-5"), ("request_timeout", "ten"),
                                        ("password_hash_slots", "0")])
def test_bad_values(conf, builddir, key, value):
    path, _ = conf(extra_top={key: value})
    p = ecd_t(builddir, path)
    assert p.returncode != 0
    assert key in p.stderr, p.stderr


def test_missing_plugin(conf, builddir):
    path, _ = conf(plugins=("account", "nosuchplugin"))
    p = ecd_t(builddir, path)
    assert p.returncode != 0
    assert "nosuchplugin" in p.stderr, p.stderr


def test_plugin_that_is_not_a_shared_object(conf, builddir, tmp_path):
    d = plugin_dir_with_account(tmp_path, builddir)
    (d / "bogus.so").write_text("this is not an ELF file\n")
    path, _ = conf(plugins=("account", "bogus"), plugin_dir=d)
    p = ecd_t(builddir, path)
    assert p.returncode != 0
    assert "bogus" in p.stderr, p.stderr


def test_shared_object_without_the_plugin_symbol(conf, builddir, tmp_path):
    lib = ctypes.util.find_library("z") or ctypes.util.find_library("m")
    dirs = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib")
    candidates = [os.path.join(d, lib) for d in dirs] if lib else []
    found = [c for c in candidates if os.path.exists(c)]
    if not found:
        pytest.skip("no ordinary shared library found to pose as a plugin")
    d = plugin_dir_with_account(tmp_path, builddir)
    shutil.copy(found[0], d / "notaplugin.so")
    path, _ = conf(plugins=("account", "notaplugin"), plugin_dir=d)
    p = ecd_t(builddir, path)
    assert p.returncode != 0
    assert "notaplugin" in p.stderr, p.stderr


BAD_ABI_C = r"""
#include <stdint.h>
#include <stddef.h>
struct fake_plugin {
    uint32_t abi_version; const char *name; const char *version;
    void *init, *fini, *routes, *indexes, *provider;
};
__attribute__((visibility("default")))
struct fake_plugin ec_plugin_entry = { 999u, "badabi", "1.0", 0, 0, 0, 0, 0 };
"""


def test_plugin_built_for_another_abi(conf, builddir, tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        pytest.skip("no C compiler to build a plugin of another ABI")
    d = plugin_dir_with_account(tmp_path, builddir)
    src = tmp_path / "badabi.c"
    src.write_text(BAD_ABI_C)
    b = subprocess.run([cc, "-shared", "-fPIC", "-o", str(d / "badabi.so"), str(src)],
                       capture_output=True, text=True)
    assert b.returncode == 0, b.stderr
    path, _ = conf(plugins=("account", "badabi"), plugin_dir=d)
    p = ecd_t(builddir, path)
    assert p.returncode != 0
    assert "badabi" in p.stderr, p.stderr
    assert "999" in p.stderr or "abi" in p.stderr.lower(), p.stderr


def test_missing_config_file(builddir, tmp_path):
    p = ecd_t(builddir, tmp_path / "nope.conf")
    assert p.returncode != 0
    assert "nope.conf" in p.stderr, p.stderr


def test_malformed_line(conf, builddir):
    path, _ = conf(extra_config="[account]\nthis line has no equals sign\n")
    p = ecd_t(builddir, path)
    assert p.returncode != 0
    assert p.stderr.strip()


def test_missing_token_secret_file(conf, builddir):
    path, st = conf()
    os.unlink(st.key_path)
    p = ecd_t(builddir, path)
    assert p.returncode != 0
    assert "token.key" in p.stderr or "token_secret_file" in p.stderr, p.stderr


def test_outbound_test_settings(conf, builddir):
    """The providers' test settings load; a bad value stops the config test by its name."""
    path, _ = conf(extra_top={"outbound_allow_http": "on", "test_clock_file": "clock.ms"})
    p = ecd_t(builddir, path)
    assert p.returncode == 0, (p.stdout, p.stderr)
    path, _ = conf(extra_top={"outbound_allow_http": "maybe"})
    p = ecd_t(builddir, path)
    assert p.returncode != 0 and "outbound_allow_http" in p.stderr, (p.stdout, p.stderr)
