//! The IANA registry CSV format: validating reader and compact table layout, shared by `build.rs` and run time.
//!
//! This file is compiled twice: by `build.rs` (which turns `registry/service-names-port-numbers.csv` into a static
//! table, so bad data fails the build) and inside the library (for `portwarden registry import`). It may use only
//! `std` and the `csv` crate.

use std::fmt;
use std::io::Read;

/// IANA's 12 columns, in order.
pub const COLUMNS: [&str; 12] = [
    "Service Name",
    "Port Number",
    "Transport Protocol",
    "Description",
    "Assignee",
    "Contact",
    "Registration Date",
    "Modification Date",
    "Reference",
    "Service Code",
    "Unauthorized Use Reported",
    "Assignment Notes",
];

/// Transport protocols that appear in the registry. `Any` is a row with no protocol: it covers all of them.
pub const PROTOCOLS: [&str; 5] = ["", "tcp", "udp", "sctp", "dccp"];

/// One record of the table: a port range, a protocol code (index into [`PROTOCOLS`]) and the 12 text fields stored
/// contiguously in a text blob, `bounds[i]..bounds[i + 1]` being field `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub start: u16,
    pub end: u16,
    pub protocol: u8,
    pub bounds: [u32; 13],
}

/// A validated registry in table form: entries sorted by (start, end), a blob with their text, the running maximum of
/// `end` (so a lookup can stop scanning backwards early), and the number of data rows in the file (including
/// service-name-only rows that have no port and so are not in `entries`).
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub blob: String,
    pub entries: Vec<Entry>,
    pub prefix_max_end: Vec<u16>,
    pub rows: usize,
    /// Newest "Registration Date" or "Modification Date" seen (YYYY-MM-DD or YYYY-MM), if any.
    pub newest_date: Option<String>,
    /// Every distinct service name in the file, sorted.
    pub service_names: Vec<String>,
}

/// Why a registry file was refused, with the 1-based line it was found on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub line: u64,
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for FormatError {}

fn err(line: u64, message: impl Into<String>) -> FormatError {
    FormatError { line, message: message.into() }
}

/// Parses "N" or "N-M" (0 <= N <= M <= 65535). Empty is `Ok(None)`.
pub fn parse_port_field(s: &str) -> Result<Option<(u16, u16)>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let one = |p: &str| -> Result<u16, String> {
        let p = p.trim();
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("expected a port number 0-65535 or a range N-M, found {s:?}"));
        }
        p.parse::<u16>().map_err(|_| format!("port {p} is out of range (0-65535)"))
    };
    match s.split_once('-') {
        None => one(s).map(|p| Some((p, p))),
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if a > b {
                return Err(format!("reversed port range {s:?} (start is after end)"));
            }
            Ok(Some((a, b)))
        }
    }
}

/// Service names IANA registered before RFC 6335 (2011) that break its syntax (underscores, dots, slashes, `+`,
/// `*`) and still lists: accepted exactly as spelt here, and no other name outside the syntax. Sorted (byte order).
pub const LEGACY_SERVICE_NAMES: [&str; 97] = [
    "914c/g",
    "EtherNet/IP-1",
    "EtherNet/IP-2",
    "LiebDevMgmt_A",
    "LiebDevMgmt_C",
    "LiebDevMgmt_DM",
    "acmaint_dbd",
    "acmaint_transd",
    "atex_elmd",
    "avanti_cdp",
    "badm_priv",
    "badm_pub",
    "bdir_priv",
    "bdir_pub",
    "bmc_ctd_ldap",
    "bmc_patroldb",
    "boks_clntd",
    "boks_servc",
    "boks_servm",
    "broker_service",
    "bues_service",
    "canit_store",
    "cedros_fds",
    "cl/1",
    "contamac_icm",
    "corel_vncadmin",
    "csc_proxy",
    "cvc_hostd",
    "dbcontrol_agent",
    "dec_dlm",
    "dl_agent",
    "documentum_s",
    "dsmeter_iatc",
    "dsx_monitor",
    "edi_service",
    "elpro_tunnel",
    "elvin_client",
    "elvin_server",
    "encrypted_admin",
    "erunbook_agent",
    "erunbook_server",
    "esri_sde",
    "event_listener",
    "flr_agent",
    "gds_db",
    "ibm_wrless_lan",
    "iceedcp_rx",
    "iceedcp_tx",
    "iclcnet_svinfo",
    "idig_mux",
    "ife_icorp",
    "instl_bootc",
    "instl_boots",
    "intel_rci",
    "interhdl_elmd",
    "lan900_remote",
    "mapper-ws_ethd",
    "matrix_vnet",
    "mdbs_daemon",
    "menandmice_noh",
    "msl_lmd",
    "nburn_id",
    "ncr_ccl",
    "nds_sso",
    "netmap_lm",
    "nms_topo_serv",
    "notify_srvr",
    "novell-lu6.2",
    "nuts_bootp",
    "nuts_dem",
    "ocs_amu",
    "ocs_cmu",
    "pipe_server",
    "pra_elmd",
    "printer_agent",
    "redstorm_diag",
    "redstorm_find",
    "redstorm_info",
    "redstorm_join",
    "resource_mgr",
    "rmonitor_secure",
    "rsvp_tunnel",
    "sge_execd",
    "sge_qmaster",
    "shiva_confsrvr",
    "sql*net",
    "srvc_registry",
    "stm_pproc",
    "subntbcst_tftp",
    "udt_os",
    "universe_suite",
    "veritas_pbx",
    "vision_elmd",
    "vision_server",
    "whois++",
    "wrs_registry",
    "z39.50",
];

/// The syntax RFC 6335 section 5.1 gives service names: 1-15 characters, only ASCII letters, digits and hyphens, at
/// least one letter, no hyphen at the start or end and no two hyphens in a row.
pub fn is_rfc6335_service_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=15).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b.iter().any(u8::is_ascii_alphabetic)
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && !name.contains("--")
}

/// A service name portwarden accepts: RFC 6335's syntax, or one of IANA's [`LEGACY_SERVICE_NAMES`].
pub fn is_valid_service_name(name: &str) -> bool {
    is_rfc6335_service_name(name) || LEGACY_SERVICE_NAMES.binary_search(&name).is_ok()
}

/// IANA dates are `YYYY-MM-DD`, and in older rows `YYYY-MM`.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() == 10 || b.len() == 7)
        && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

/// Reads and validates a registry CSV in IANA's format and lays it out as a [`Table`].
///
/// Checked: the exact 12-column header (a UTF-8 byte-order mark is allowed), 12 fields on every row, UTF-8 text
/// without control characters other than line breaks and tabs, port numbers (`N`, `N-M` or empty), transport
/// protocols, dates (`YYYY-MM-DD`, `YYYY-MM` or empty), service names (RFC 6335 syntax or IANA's historic names, see
/// [`is_valid_service_name`]), and that every row has either a service name or a port. Stops at the
/// first fault and says on which line.
pub fn parse<R: Read>(input: R) -> Result<Table, FormatError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(input);
    let mut record = csv::ByteRecord::new();
    let mut table = Table::default();
    let mut first = true;
    let mut names = std::collections::BTreeSet::new();
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                return Err(err(line, format!("not readable as CSV: {e}")));
            }
        }
        let line = record.position().map_or(line, |p| p.line());
        let mut fields: Vec<&str> = Vec::with_capacity(12);
        for (i, raw) in record.iter().enumerate() {
            let text =
                std::str::from_utf8(raw).map_err(|_| err(line, format!("field {} is not valid UTF-8", i + 1)))?;
            if let Some(c) = text.chars().find(|&c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
                return Err(err(line, format!("field {} contains control character {:?}", i + 1, c)));
            }
            fields.push(text);
        }
        if first {
            first = false;
            let mut header = fields.clone();
            if let Some(h) = header.first_mut() {
                *h = h.trim_start_matches('\u{feff}');
            }
            if header.iter().map(|h| h.trim()).ne(COLUMNS.iter().copied()) {
                return Err(err(
                    line,
                    format!("expected IANA's header \"{}\", found \"{}\"", COLUMNS.join(","), header.join(",")),
                ));
            }
            continue;
        }
        if fields.len() == 1 && fields[0].trim().is_empty() {
            continue; // a blank line
        }
        if fields.len() != 12 {
            return Err(err(line, format!("expected 12 fields as in IANA's CSV, found {}", fields.len())));
        }
        let ports = parse_port_field(fields[1]).map_err(|m| err(line, m))?;
        let proto = fields[2].trim().to_ascii_lowercase();
        let protocol = PROTOCOLS.iter().position(|p| *p == proto).ok_or_else(|| {
            err(line, format!("unknown transport protocol {:?} (expected tcp, udp, sctp, dccp or empty)", fields[2]))
        })?;
        let name = fields[0].trim();
        if name.is_empty() && ports.is_none() {
            return Err(err(line, "a row needs a service name or a port number; both are empty"));
        }
        if !name.is_empty() && !is_valid_service_name(name) {
            return Err(err(
                line,
                format!(
                    "service name {name:?} is not a valid IANA service name (expected 1-15 ASCII letters, digits and \
                     hyphens with at least one letter, no hyphen at either end and no two in a row, as RFC 6335 \
                     section 5.1 says, or one of IANA's historic names)"
                ),
            ));
        }
        for (col, value) in [(6usize, fields[6]), (7, fields[7])] {
            let v = value.trim();
            if !v.is_empty() && !is_date(v) {
                return Err(err(
                    line,
                    format!("{} {:?} is not a date (expected YYYY-MM-DD or YYYY-MM)", COLUMNS[col], v),
                ));
            }
            if !v.is_empty() && table.newest_date.as_deref().is_none_or(|d| v > d) {
                table.newest_date = Some(v.to_string());
            }
        }
        table.rows += 1;
        if !name.is_empty() {
            names.insert(name.to_string());
        }
        let Some((start, end)) = ports else { continue };
        let mut bounds = [0u32; 13];
        let too_big = || err(line, "registry text exceeds 4 GiB");
        bounds[0] = u32::try_from(table.blob.len()).map_err(|_| too_big())?;
        for (i, f) in fields.iter().enumerate() {
            let f = if i == 2 { PROTOCOLS[protocol] } else { f.trim() };
            table.blob.push_str(f);
            bounds[i + 1] = u32::try_from(table.blob.len()).map_err(|_| too_big())?;
        }
        table.entries.push(Entry { start, end, protocol: protocol as u8, bounds });
    }
    if first {
        return Err(err(1, "the file is empty; expected IANA's header line"));
    }
    if table.rows == 0 {
        return Err(err(2, "the file has a header but no records"));
    }
    // Stable sort keeps IANA's order among records of one port (e.g. http, www, www-http on 80/tcp).
    table.entries.sort_by_key(|e| (e.start, e.end));
    let mut max = 0u16;
    table.prefix_max_end = table
        .entries
        .iter()
        .map(|e| {
            max = max.max(e.end);
            max
        })
        .collect();
    table.service_names = names.into_iter().collect();
    Ok(table)
}
