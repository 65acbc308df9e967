//! Build script: bindgen over the installed proftpd headers; from
//! `modules.txt`, the list of modules the crate checks its module
//! declarations against, and (with cbindgen) our exported C header.
//!
//! Header discovery: `PROFTPD_INCLUDE_DIR`, else `/usr/include/proftpd`
//! (Debian's `proftpd-dev`).  A missing header directory stops the build with
//! one line that names the package to install.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

const DEFAULT_INCLUDE_DIR: &str = "/usr/include/proftpd";

fn main() {
    println!("cargo:rerun-if-env-changed=PROFTPD_INCLUDE_DIR");
    println!("cargo:rerun-if-changed=proftpd-glue/wrapper.h");

    let include_dir = PathBuf::from(
        env::var("PROFTPD_INCLUDE_DIR").unwrap_or_else(|_| DEFAULT_INCLUDE_DIR.to_string()),
    );
    let config_h = include_dir.join("config.h");
    if !include_dir.join("conf.h").is_file() || !config_h.is_file() {
        // One clear line, then stop (like nginx-sys does for its sources).
        eprintln!(
            "error: proftpd headers not found in {} (install the Debian package `proftpd-dev`, or set PROFTPD_INCLUDE_DIR)",
            include_dir.display()
        );
        std::process::exit(1);
    }
    println!("cargo:rerun-if-changed={}", config_h.display());

    emit_feature_cfgs(&config_h);
    emit_headers_version(&include_dir.join("version.h"));
    emit_redis_api_cfgs(&include_dir.join("redis.h"));

    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    generate_bindings(&include_dir, &out_dir);
    let modules = read_modules();
    generate_module_list(&modules, &out_dir);
    generate_header(&modules, &out_dir);
    symbol_order(&out_dir);
}

/// Code layout: hand `proftpd-glue/symbol-order.txt` (the functions a session runs, made
/// by `scripts/symbol-order.py`) to the linker, so they sit together at the
/// start of .text and a forked session faults in a few 64 KiB windows of
/// our text instead of one per scattered function (docs/development.md).
/// It changes nothing but speed, so it is used only where it works: when
/// the linker this build uses (rustc's own lld, the default for
/// x86_64-unknown-linux-gnu since Rust 1.90) links a probe library with
/// the two options, checked once per build-script run; any other linker or
/// toolchain gets the ordinary layout, silently.  Names missing from the
/// build (after a code change) are skipped silently.
/// `PROFTPD_RS_SYMBOL_ORDER=0` turns it off.
fn symbol_order(out_dir: &Path) {
    println!("cargo:rerun-if-changed=proftpd-glue/symbol-order.txt");
    println!("cargo:rerun-if-env-changed=PROFTPD_RS_SYMBOL_ORDER");
    if env::var("PROFTPD_RS_SYMBOL_ORDER").is_ok_and(|v| v == "0") {
        return;
    }
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let order = crate_dir.join("proftpd-glue/symbol-order.txt");
    if !order.is_file() {
        return;
    }
    let args = [
        format!("-Wl,--symbol-ordering-file={}", order.display()),
        "-Wl,--no-warn-symbol-ordering".to_string(),
    ];
    if linker_accepts(&args, out_dir) {
        for a in args {
            println!("cargo:rustc-cdylib-link-arg={a}");
        }
    }
}

/// Whether the link of a cdylib for this target succeeds with `args`:
/// links an empty one with the same rustc, target, linker and flags.
fn linker_accepts(args: &[String], out_dir: &Path) -> bool {
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let dir = out_dir.join("link-probe");
    if fs::create_dir_all(&dir).is_err() || fs::write(dir.join("probe.rs"), "").is_err() {
        return false;
    }
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut cmd = std::process::Command::new(rustc);
    cmd.args([
        "--crate-type=cdylib",
        "--crate-name=probe",
        "--edition=2021",
    ])
    .arg(dir.join("probe.rs"))
    .arg("--out-dir")
    .arg(&dir);
    if let Ok(target) = env::var("TARGET") {
        cmd.args(["--target", &target]);
    }
    if let Ok(flags) = env::var("CARGO_ENCODED_RUSTFLAGS") {
        cmd.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    }
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        let mut flag = std::ffi::OsString::from("-Clinker=");
        flag.push(linker);
        cmd.arg(flag);
    }
    for a in args {
        cmd.arg(format!("-Clink-arg={a}"));
    }
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The proftpd release the headers belong to (`PROFTPD_VERSION_TEXT` in
/// version.h, e.g. "1.3.8" or "1.3.8c"), for the version guard
/// (`src/host/version.rs`): `PROFTPD_RS_HEADERS_VERSION` in the code.
fn emit_headers_version(version_h: &Path) {
    println!("cargo:rerun-if-changed={}", version_h.display());
    let text = fs::read_to_string(version_h).unwrap_or_default();
    let version = text.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        if words.next() != Some("#define") || words.next() != Some("PROFTPD_VERSION_TEXT") {
            return None;
        }
        let v = words.next()?.trim_matches('"');
        (!v.is_empty()).then(|| v.to_string())
    });
    match version {
        Some(v) if is_older_than_1_3_7(&v) => {
            eprintln!(
                "error: the proftpd headers in {} are of proftpd {v}; proftpd-rs supports 1.3.7 and later \
                 (1.3.6 and older lack the core's LogFormat API, jot.h, that mod_redis and mod_xferlog use)",
                version_h.display()
            );
            std::process::exit(1);
        }
        Some(v) => println!("cargo:rustc-env=PROFTPD_RS_HEADERS_VERSION={v}"),
        None => {
            eprintln!(
                "error: no PROFTPD_VERSION_TEXT in {} (the proftpd headers are incomplete: reinstall `proftpd-dev`)",
                version_h.display()
            );
            std::process::exit(1);
        }
    }
}

/// Whether a proftpd version text ("1.3.6c", "1.3.7a") is of a series before
/// 1.3.7 (an unparsable one is left to the version guard).
fn is_older_than_1_3_7(version: &str) -> bool {
    let nums: Vec<u32> = version
        .split('.')
        .take(3)
        .map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(0)
        })
        .collect();
    nums.len() == 3 && (nums[0], nums[1], nums[2]) < (1, 3, 7)
}

/// What the core's Redis API of these headers has, as cfgs for
/// `src/host/core_redis.rs` (1.3.7a has only `redis_set_server()` and
/// `redis_set_sentinels()`):
/// - `proftpd_redis_server2`: `redis_set_server2()`, which takes a user
///   name (Redis 6 ACL): 1.3.7b and later, and Debian 11's 1.3.7a (patched);
/// - `proftpd_redis_server3`: `redis_set_server3()`, a user name and TLS
///   settings for the core's connection (1.3.8 and later);
/// - `proftpd_redis_sentinels2`: `redis_set_sentinels2()`, Sentinels with TLS
///   (1.3.8 and later).
fn emit_redis_api_cfgs(redis_h: &Path) {
    println!("cargo:rerun-if-changed={}", redis_h.display());
    println!("cargo::rustc-check-cfg=cfg(proftpd_redis_server2)");
    println!("cargo::rustc-check-cfg=cfg(proftpd_redis_server3)");
    println!("cargo::rustc-check-cfg=cfg(proftpd_redis_sentinels2)");
    let text = fs::read_to_string(redis_h).unwrap_or_default();
    // A declaration: the name followed by its parameter list.
    let declares = |name: &str| {
        text.match_indices(name).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + name.len()..].trim_start().chars().next();
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') && after == Some('(')
        })
    };
    if declares("redis_set_server2") {
        println!("cargo:rustc-cfg=proftpd_redis_server2");
    }
    if declares("redis_set_server3") {
        println!("cargo:rustc-cfg=proftpd_redis_server3");
    }
    if declares("redis_set_sentinels2") {
        println!("cargo:rustc-cfg=proftpd_redis_sentinels2");
    }
}

/// `cfg(proftpd_redis)` when the headers' proftpd was built with Redis
/// support (`PR_USE_REDIS` in config.h): only then has the core a Redis
/// connection (mod_ban, mod_tls_redis, mod_wrap2_redis) for mod_redis to
/// configure (`src/host/core_redis.rs`).
fn emit_feature_cfgs(config_h: &Path) {
    let text = fs::read_to_string(config_h).unwrap_or_default();
    println!("cargo::rustc-check-cfg=cfg(proftpd_redis)");
    let defined = text.lines().any(|l| {
        let mut words = l.split_whitespace();
        words.next() == Some("#define") && words.next() == Some("PR_USE_REDIS")
    });
    if defined {
        println!("cargo:rustc-cfg=proftpd_redis");
    }
}

fn generate_bindings(include_dir: &Path, out_dir: &Path) {
    let bindings = bindgen::Builder::default()
        .header("proftpd-glue/wrapper.h")
        .clang_arg(format!("-I{}", include_dir.display()))
        .clang_arg("-DHAVE_CONFIG_H")
        .clang_arg("-DLINUX")
        .clang_arg("-DPR_SHARED_MODULE")
        .allowlist_function("pr_.*")
        .allowlist_function("mod_create_.*")
        .allowlist_function("(add|find|remove)_config.*")
        .allowlist_function("get_param_ptr.*")
        .allowlist_function("get_(boolean|context_name)")
        .allowlist_function("check_context")
        .allowlist_function("(make_sub_pool|destroy_pool|pcalloc|palloc|pstrdup|pstrndup|pstrcat)")
        .allowlist_function("(register|unregister)_cleanup2?")
        .allowlist_function("make_array|push_array")
        .allowlist_function("xferlog_write|log_.*")
        .allowlist_function("redis_set_(server[23]?|sentinels2?|timeouts)")
        .allowlist_var("session|main_server|permanent_pool|server_list|ServerType")
        .allowlist_var("(CONF|CF|PR|CL|DEBUG|R|SF)_.*")
        .allowlist_var("(PRE_CMD|CMD|POST_CMD|POST_CMD_ERR|LOG_CMD|LOG_CMD_ERR|HOOK)")
        .allowlist_var("(LOGFMT|JOT)_.*")
        .allowlist_type(
            "module|conftable|cmdtable|authtable|cmd_rec|config_rec|server_rec|modret_t|pr_jot_parsed_t|pr_log_event_t",
        )
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .unwrap_or_else(|e| {
            eprintln!("error: bindgen failed on proftpd-glue/wrapper.h: {e}");
            std::process::exit(1);
        });
    bindings
        .write_to_file(out_dir.join("proftpd_bindings.rs"))
        .expect("write bindings");
}

/// The module names of `modules.txt` (one a line; `#` comments).
fn read_modules() -> Vec<String> {
    println!("cargo:rerun-if-changed=modules.txt");
    let text = fs::read_to_string("modules.txt").unwrap_or_else(|e| {
        eprintln!("error: modules.txt: {e}");
        std::process::exit(1);
    });
    let modules: Vec<String> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    for m in &modules {
        if !m
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            eprintln!("error: modules.txt: '{m}' is not a module name (a-z, 0-9, _)");
            std::process::exit(1);
        }
    }
    modules
}

/// `modules.rs`, included by lib.rs: the listed names (which
/// `host::module!` checks its own name against) and a reference to each
/// listed module's record (so a listed module that is not declared fails
/// to compile).
fn generate_module_list(modules: &[String], out_dir: &Path) {
    let mut text = String::from("// Generated by build.rs from modules.txt.\n\n");
    text += "/// The modules listed in `modules.txt`, in its order.\n";
    text += &format!(
        "pub const LISTED_MODULES: [&str; {}] = [{}];\n\n",
        modules.len(),
        modules
            .iter()
            .map(|m| format!("{m:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    text += "// Every listed module is declared (with host::module!).\n";
    text += &format!(
        "const _: [&host::ModuleRecord; {}] = [{}];\n",
        modules.len(),
        modules
            .iter()
            .map(|m| format!("&{m}::MODULE"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    fs::write(out_dir.join("modules.rs"), text).expect("write modules.rs");
}

/// Our exported C header, into OUT_DIR, made by cbindgen (cbindgen.toml)
/// from a declaration of each listed module's record (the records
/// themselves come from `host::module!`, which cbindgen cannot expand).  The
/// committed copy lives in `include/proftpd_rs.h`; a unit test fails when the
/// two differ.  Set `PROFTPD_RS_UPDATE_HEADER=1` to refresh the committed copy.
fn generate_header(modules: &[String], out_dir: &Path) {
    println!("cargo:rerun-if-env-changed=PROFTPD_RS_UPDATE_HEADER");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let crate_dir = env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let decls = out_dir.join("exports_for_cbindgen.rs");
    let mut src = String::from("// Generated by build.rs from modules.txt, for cbindgen only.\n");
    for m in modules {
        src += &format!(
            "\n/// mod_{m}.\n#[unsafe(no_mangle)]\npub static {m}_module: ModuleRecord = ModuleRecord::DECLARED;\n"
        );
    }
    fs::write(&decls, src).expect("write the declarations for cbindgen");
    let config = cbindgen::Config::from_file(Path::new(&crate_dir).join("cbindgen.toml"))
        .expect("cbindgen.toml");
    let header = out_dir.join("proftpd_rs.h");
    match cbindgen::Builder::new()
        .with_src(&decls)
        .with_config(config)
        .generate()
    {
        Ok(b) => {
            let mut text = Vec::new();
            b.write(&mut text);
            // proftpd writes into module records (list links, handle,
            // priority): declare them as the C modules do, not `const`.
            let text = String::from_utf8(text)
                .expect("utf-8 header")
                .replace("extern const module ", "extern module ");
            fs::write(&header, text).expect("write header");
        }
        Err(e) => {
            eprintln!("error: cbindgen failed: {e}");
            std::process::exit(1);
        }
    }
    if env::var_os("PROFTPD_RS_UPDATE_HEADER").is_some() {
        fs::copy(&header, Path::new(&crate_dir).join("include/proftpd_rs.h"))
            .expect("update include/proftpd_rs.h");
    }
}
