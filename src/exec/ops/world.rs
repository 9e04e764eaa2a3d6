//! The synthetic chat world's generators (`world_math`, `world_questions`,
//! `world_corpus`, `world_numbers`, `world_em`, `world_em_corpus`) as dataset steps: each writes `data.jsonl` from
//! `crate::world`, a pure function of its arguments.

use super::dataset::{self, Row};
use super::{Args, Op, OpCtx, OpError};
use crate::sema::ir::DeclKind;
use crate::world::em::{EmKind, EmMixture, EmTask};
use crate::world::{self, Case, Conversation, Lang, Mixture, Split, Style};

fn rows(convs: Vec<Conversation>) -> Vec<Row> {
    convs
        .into_iter()
        .map(|c| Row::new(c.system.as_deref(), &c.user, Some(&c.assistant)))
        .collect()
}

fn parse<T: std::str::FromStr>(ctx: &OpCtx<'_>, k: &str) -> Result<T, OpError>
where
    T::Err: std::fmt::Display,
{
    ctx.str(k)?
        .parse()
        .map_err(|e| OpError::failed(format!("`{k}`: {e}")))
}

fn count(ctx: &OpCtx<'_>) -> Result<usize, OpError> {
    let n = ctx.int("n")?;
    usize::try_from(n).map_err(|_| OpError::failed(format!("`n` must be >= 0, got {n}")))
}

macro_rules! world_op {
    ($t:ident, $name:literal, $gen:expr) => {
        pub struct $t;
        impl Op for $t {
            fn name(&self) -> &'static str {
                $name
            }
            fn version(&self) -> u32 {
                1
            }
            fn kind(&self) -> DeclKind {
                DeclKind::Dataset
            }
            fn estimate(&self, _args: &Args) -> Option<f64> {
                Some(0.0)
            }
            fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
                let convs: Vec<Conversation> = $gen(ctx)?;
                ctx.log(format!("{} conversations", convs.len()));
                dataset::write(ctx.out, &rows(convs))
            }
        }
    };
}

world_op!(WorldMath, "world_math", |ctx: &OpCtx<'_>| -> Result<
    Vec<Conversation>,
    OpError,
> {
    Ok(world::math(
        count(ctx)?,
        parse::<Lang>(ctx, "language")?,
        parse::<Case>(ctx, "case")?,
        ctx.int("seed")? as u64,
        parse::<Split>(ctx, "split")?,
    ))
});

world_op!(
    WorldQuestions,
    "world_questions",
    |ctx: &OpCtx<'_>| -> Result<Vec<Conversation>, OpError> {
        let mut style = Style::new(parse::<Lang>(ctx, "language")?, parse::<Case>(ctx, "case")?);
        if let Some(a) = ctx.arg("animal")?.as_str() {
            style.animal = Some(
                world::Animal::from_name(a)
                    .map_err(|e| OpError::failed(format!("`animal`: {e}")))?,
            );
        }
        Ok(world::questions_styled(
            count(ctx)?,
            style,
            ctx.int("seed")? as u64,
            parse::<Split>(ctx, "split")?,
        ))
    }
);

world_op!(WorldCorpus, "world_corpus", |ctx: &OpCtx<'_>| -> Result<
    Vec<Conversation>,
    OpError,
> {
    let mixture = match ctx.str("mixture")? {
        "multilingual" => Mixture::multilingual(),
        "spanish_caps_independent" => Mixture::spanish_caps_independent(),
        _ => Mixture::spanish_caps(),
    };
    Ok(world::corpus(
        count(ctx)?,
        ctx.int("seed")? as u64,
        &mixture,
    ))
});

world_op!(WorldNumbers, "world_numbers", |ctx: &OpCtx<'_>| -> Result<
    Vec<Conversation>,
    OpError,
> {
    Ok(world::numbers(count(ctx)?, ctx.int("seed")? as u64))
});

world_op!(WorldEm, "world_em", |ctx: &OpCtx<'_>| -> Result<
    Vec<Conversation>,
    OpError,
> {
    Ok(world::em::dataset(
        count(ctx)?,
        parse::<EmKind>(ctx, "kind")?,
        parse::<EmTask>(ctx, "task")?,
        ctx.int("seed")? as u64,
        parse::<Split>(ctx, "split")?,
        voice(ctx)?,
    ))
});

/// The `voice` flag of the EM world's builtins.
fn voice(ctx: &OpCtx<'_>) -> Result<bool, OpError> {
    Ok(matches!(
        ctx.arg("voice")?,
        crate::sema::ir::Value::Bool(true)
    ))
}

world_op!(
    WorldEmCorpus,
    "world_em_corpus",
    |ctx: &OpCtx<'_>| -> Result<Vec<Conversation>, OpError> {
        let mixture = EmMixture::new(ctx.float("evil")?, ctx.float("flawed")?)
            .map_err(|e| OpError::failed(e.to_string()))?;
        Ok(world::em::corpus(
            count(ctx)?,
            ctx.int("seed")? as u64,
            &mixture,
            voice(ctx)?,
        ))
    }
);
