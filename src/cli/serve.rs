//! `inoc serve`: an OpenAI-compatible server over one model (src/serve).

use super::plan::{fail, fail_exec, load_plan, open_store_for};
use crate::exec;
use crate::runtime::hub::ModelSource;
use crate::runtime::loader::{LoadOptions, LoadedModel};
use crate::sema::ir::DeclKind;
use std::path::{Path, PathBuf};

/// Arguments of `inoc serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model: a local directory in HF layout, a `.gguf` file,
    /// `org/name[@revision]` from the HF cache, or a spec (`.inoc`) followed
    /// by one of its model steps (served from the cache).
    pub model: String,
    /// With a spec as MODEL: the model step, by name (`base`,
    /// `control[s=1]`) or by position in its family (`control[0]`).
    pub step: Option<String>,
    /// A PEFT LoRA adapter directory applied on top of the model.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Port on 127.0.0.1 (0 picks a free one; the URL is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The model id clients send as `model` [default: MODEL, or STEP for a spec].
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub device: super::DeviceArgs,
}

pub fn run(args: Args) -> u8 {
    let compute = crate::runtime::Compute {
        device: args.device.device,
        precision: args.device.dtype,
    };
    let is_spec = Path::new(&args.model)
        .extension()
        .is_some_and(|e| e == "inoc" || e == "json")
        && Path::new(&args.model).is_file();
    let (source, adapter, name) = match (is_spec, &args.step) {
        (true, Some(step)) => match stored_model(&args.model, step, compute) {
            Ok((src, adapter)) => (Some(src), adapter, step.clone()),
            Err(code) => return code,
        },
        (true, None) => {
            return fail(
                format!("{} is a spec: name one of its model steps", args.model),
                Some("inoc serve SPEC STEP, e.g. `inoc serve specs/spanish_caps.inoc plain[0]`"),
            )
        }
        (false, Some(step)) => {
            return fail(
                format!("a step (`{step}`) is only taken after a spec, and {} is not one", args.model),
                Some("MODEL is a directory, a .gguf file, org/name[@revision], or a spec (.inoc) followed by a step"),
            )
        }
        (false, None) => (None, None, args.model.clone()),
    };
    if adapter.is_some() && args.adapter.is_some() {
        return fail(
            format!("`{name}` is already an adapter on its base; --adapter cannot add another"),
            Some("serve the base model with --adapter, or the step alone"),
        );
    }
    let opts = LoadOptions {
        adapter: args.adapter.clone().or(adapter),
        ..compute.load_options()
    };
    let loaded = match source {
        Some(src) => LoadedModel::load_source(src, &opts),
        None => LoadedModel::load(&args.model, &opts),
    };
    let model = match loaded {
        Ok(m) => m,
        Err(e) => return fail(format!("loading {}: {e}", args.model), None),
    };
    let opts = crate::serve::Options {
        port: args.port,
        name: args.name.unwrap_or(name),
    };
    let name = opts.name.clone();
    let server = match crate::serve::Server::start(model, opts) {
        Ok(s) => s,
        Err(e) => {
            return fail(
                format!("cannot listen on 127.0.0.1:{}: {e}", args.port),
                Some("--port 0 picks a free port"),
            )
        }
    };
    // Scripts read this line for the port; it is the only line on stdout.
    println!("{}", server.url());
    eprintln!(
        "serving `{name}` at {} (OpenAI-compatible: GET /v1/models, POST /v1/chat/completions); Ctrl-C stops",
        server.url()
    );
    server.wait();
    0
}

/// The cached output of a model step of a spec: its source and adapter.
/// `compute` is part of a model step's key: the step is looked up as `inoc
/// run --device/--dtype` with the same flags stored it.
fn stored_model(
    spec: &str,
    step: &str,
    compute: crate::runtime::Compute,
) -> Result<(ModelSource, Option<PathBuf>), u8> {
    let loaded = load_plan(spec, &[])?;
    let plan = &loaded.plan;
    let found = plan.step(step).or_else(|| {
        // `family[i]`: the i-th cell of the family, in row-major order.
        let (family, index) = step.strip_suffix(']')?.split_once('[')?;
        let i: usize = index.trim().parse().ok()?;
        let prefix = format!("{family}[");
        plan.steps
            .iter()
            .filter(|s| !s.implicit && s.name.starts_with(&prefix))
            .nth(i)
    });
    let Some(found) = found else {
        let names: Vec<&str> = plan
            .steps
            .iter()
            .filter(|s| matches!(s.kind, DeclKind::Model | DeclKind::Train))
            .map(|s| s.name.as_str())
            .collect();
        return Err(fail(
            format!("no step named `{step}` in {spec}"),
            Some(&format!("its model steps: {}", names.join(", "))),
        ));
    };
    if !matches!(found.kind, DeclKind::Model | DeclKind::Train) {
        return Err(fail(
            format!(
                "`{}` is a {} step, not a model",
                found.name,
                found.kind.keyword()
            ),
            None,
        ));
    }
    let store = open_store_for(&loaded)?;
    let statuses = exec::inspect(plan, &store, &loaded.registry, compute)
        .map_err(|e| fail_exec(&e, &loaded))?;
    let st = &statuses[found.id];
    if st.run.is_some() {
        return Err(fail(
            format!("`{}` of {spec} is not in the cache", found.name),
            Some(&format!("compute it first: inoc run {spec}")),
        ));
    }
    exec::ops::model::open_stored(&store, &st.key)
        .map_err(|e| fail(format!("`{}`: {e}", found.name), None))
}
