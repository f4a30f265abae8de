//! `registry info|import|reset`: which IANA registry is in use, and replacing it.

use super::{Context, Outcome};
use crate::cli::{RegistryCommand, TextOrJson};
use anyhow::bail;
use portwarden::{registry, render, text, verdict};

pub fn run(cmd: RegistryCommand, cx: &mut Context<'_>) -> anyhow::Result<Outcome> {
    let (io, painter) = (&mut cx.io, cx.painter);
    let data_dir = registry::data_dir();
    match cmd {
        RegistryCommand::Info { format } => {
            let registry = cx.data.registry()?;
            let info = registry.info();
            let share = verdict::obscure_share(registry);
            match format {
                TextOrJson::Json => {
                    render::json(io.out, &serde_json::json!({ "registry": info, "obscure_share": share }))?
                }
                TextOrJson::Text => {
                    let origin = match &info.origin {
                        registry::Origin::Builtin => "built-in (compiled into this binary)".to_string(),
                        registry::Origin::Imported { path } => format!("imported: {}", path.display()),
                    };
                    writeln!(io.out, "{}", painter.bold(&info.name))?;
                    writeln!(io.out, "  in use:    {origin}")?;
                    writeln!(io.out, "  date:      {}", info.date)?;
                    writeln!(io.out, "  sources:   {}", text::escape(&info.sources))?;
                    writeln!(io.out, "  rows:      {} ({} with a port number)", info.rows, info.port_rows)?;
                    writeln!(io.out, "  common services (never obscure): {}", registry::common_services().len())?;
                    writeln!(
                        io.out,
                        "  obscure: {} of {} assigned tcp/udp ports ({:.1}%)",
                        share.obscure,
                        share.assigned,
                        100.0 * share.obscure as f64 / share.assigned.max(1) as f64
                    )?;
                }
            }
        }
        RegistryCommand::Import { file } => {
            let Some(dir) = data_dir else { bail!("no data directory: set PORTWARDEN_DATA_DIR or HOME") };
            let info = registry::import(&file, &dir)?;
            writeln!(
                io.out,
                "imported {} rows ({} with a port number), newest record dated {}; stored as {}",
                info.rows,
                info.port_rows,
                info.date,
                dir.join(registry::IMPORTED_FILE).display()
            )?;
        }
        RegistryCommand::Reset => {
            let Some(dir) = data_dir else { bail!("no data directory: set PORTWARDEN_DATA_DIR or HOME") };
            if registry::reset(&dir)? {
                writeln!(io.out, "removed the imported registry; using the built-in one")?;
            } else {
                writeln!(io.out, "no imported registry; the built-in one is in use")?;
            }
        }
    }
    Ok(Outcome::Clean)
}
