//! `wxlogin decrypt`: decrypt one encryptedData payload by hand — the tool for chasing a
//! -41003 in production.
//!
//! The session_key is never taken on the command line (it would land in shell history and in
//! `ps`): it comes from a file, or from the store's ring for `--openid` (never printed). The
//! answer is the decrypted JSON, or the same error code the API would give.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use wxlogin_crypto::PayloadKind;
use wxlogin_domain::KeyGeneration;

use crate::setup;

#[derive(Debug, clap::Args)]
pub(crate) struct DecryptArgs {
    /// user_info, phone, share, group_enter or werun.
    #[arg(long)]
    kind: PayloadKind,
    /// The app the data is for (checked against the watermark).
    #[arg(long)]
    appid: String,
    /// The payload's iv (base64).
    #[arg(long)]
    iv: String,
    /// For user info: rawData, verified against --signature.
    #[arg(long, requires = "signature")]
    raw_data: Option<String>,
    #[arg(long, requires = "raw_data")]
    signature: Option<String>,
    /// A file holding the 24-character session_key.
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with = "openid",
        required_unless_present = "openid"
    )]
    session_key_file: Option<PathBuf>,
    /// Use the stored key ring of this user (needs the server's configuration).
    #[arg(long)]
    openid: Option<String>,
    /// TOML configuration file, for --openid.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The encryptedData; `-` or absent reads standard input.
    data: Option<String>,
}

pub(crate) async fn run(args: DecryptArgs) -> anyhow::Result<()> {
    let data = match args.data.as_deref() {
        None | Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading encryptedData from standard input")?;
            text
        }
        Some(text) => text.to_owned(),
    };
    let keys: Vec<(SecretString, KeyGeneration)> = match (&args.session_key_file, &args.openid) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            vec![(
                SecretString::from(text.trim().to_owned()),
                KeyGeneration::Current,
            )]
        }
        (None, Some(openid)) => {
            let config = setup::load_config(args.config.as_deref())?;
            crate::runtime::init_logging("warn");
            let built = setup::build(&config, None).await?;
            built
                .open_data
                .user_session_keys(&args.appid, openid)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .to_vec()
        }
        (None, None) => bail!("give --session-key-file or --openid"),
    };
    let result = wxlogin_crypto::decrypt_with_keys(
        args.kind,
        keys.iter().map(|(key, _)| key.expose_secret()),
        &args.iv,
        data.trim(),
        &args.appid,
    );
    match result {
        Ok((decrypted, index)) => {
            let (key, generation) = &keys[index.0];
            if let (Some(raw), Some(signature)) = (&args.raw_data, &args.signature)
                && !wxlogin_crypto::verify_raw_data_signature(raw, key.expose_secret(), signature)
            {
                fail(
                    "invalid_signature",
                    None,
                    "rawData does not match its signature",
                )
            }
            println!("{}", decrypted.to_json());
            eprintln!("decrypted with the {} session_key", generation.as_str());
            Ok(())
        }
        Err(error) => fail(error.code(), Some(error.errcode()), &error.to_string()),
    }
}

/// Prints the API's error shape and exits non-zero.
fn fail(code: &str, errcode: Option<i64>, message: &str) -> ! {
    let mut error = serde_json::json!({"code": code, "message": message});
    if let Some(errcode) = errcode {
        error["errcode"] = errcode.into();
    }
    println!("{}", serde_json::json!({ "error": error }));
    if let Some(errcode) = errcode {
        eprintln!("error: {code} ({errcode}): {message}");
    } else {
        eprintln!("error: {code}: {message}");
    }
    std::process::exit(1)
}
