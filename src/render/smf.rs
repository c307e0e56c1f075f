//! The SMF manifest, written with quick-xml's writer.
//!
//! Elements come in the order `/usr/share/lib/xml/dtd/service_bundle.dtd.1`
//! requires; `svccfg import` rejects a manifest that does not follow it. The
//! service's children are, in that order: create_default_instance,
//! single_instance, restarter, dependency, dependent, method_context,
//! exec_method, property_group, instance, stability, template.

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::{RenderedFile, Settings};

const DOCTYPE: &str = r#"service_bundle SYSTEM "/usr/share/lib/xml/dtd/service_bundle.dtd.1""#;

const HEADER: &str = "
    keygate: hold system/filesystem/local until ZFS encryption keys are loaded.

    Rendered by `keygate render smf`; the copy shipped in smf/ is that output
    with default options. Install and enable with
        svccfg import keygate.xml
    (or copy it to /lib/svc/manifest/system/filesystem/ and run
    `svcadm restart manifest-import`). See keygate(8).
";

const WHY_SINGLE_USER: &str = " By milestone/single-user the pools in zpool.cache are imported and
             the root, /usr and minimal file systems are mounted: keygate, zfs
             and the consoles are all there. ";

const WHY_DEPENDENT: &str = " filesystem/local mounts the remaining ZFS datasets (zfs mount -a),
             which skips those whose key is not loaded. As a dependent it waits
             for keygate; while keygate is in maintenance the boot stops short
             of local file systems, and `svcadm clear` lets it go on. ";

const WHY_START: &str = " keygate runs directly and speaks SMF's exit codes itself: 0 when
             every key is loaded, 95 (service to maintenance) when keys are
             still locked, 96 on a configuration error. timeout_seconds 0 means
             no limit: in wait and prompt modes the gate waits for a person as
             long as it takes. keygate bounds every zfs call itself
             (zfs-timeout) and gives up on its own timeout when one is set. ";

const WHY_STOP: &str = " Nothing to undo on stop: keys stay loaded. ";

const WHY_TRANSIENT: &str =
    " keygate exits once the keys are loaded; no process is left to watch. ";

pub(crate) fn render(settings: &Settings) -> Vec<RenderedFile> {
    let mut xml = manifest(settings).expect("writing XML to memory cannot fail");
    xml.push(b'\n');
    vec![RenderedFile {
        name: "keygate.xml",
        contents: String::from_utf8(xml).expect("quick-xml writes UTF-8 from UTF-8 input"),
        executable: false,
    }]
}

fn manifest(settings: &Settings) -> io::Result<Vec<u8>> {
    let short_name = settings
        .service_name
        .rsplit('/')
        .next()
        .unwrap_or(&settings.service_name);
    let mut start = vec![
        settings.binary.clone(),
        "--service-manager".to_owned(),
        "smf".to_owned(),
        "gate".to_owned(),
    ];
    start.extend(settings.gate_args());
    let start = start.join(" ");

    let mut w = Writer::new_with_indent(Vec::new(), b' ', 4);
    w.write_event(Event::Decl(BytesDecl::new("1.0", None, None)))?;
    w.write_event(Event::DocType(BytesText::from_escaped(DOCTYPE)))?;
    comment(&mut w, HEADER)?;
    w.create_element("service_bundle")
        .with_attributes([("type", "manifest"), ("name", short_name)])
        .write_inner_content(|w| {
            w.create_element("service")
                .with_attributes([
                    ("name", settings.service_name.as_str()),
                    ("type", "service"),
                    ("version", "1"),
                ])
                .write_inner_content(|w| service_body(w, short_name, &start))?;
            Ok(())
        })?;
    Ok(w.into_inner())
}

fn service_body(w: &mut Writer<Vec<u8>>, short_name: &str, start: &str) -> io::Result<()> {
    w.create_element("create_default_instance")
        .with_attribute(("enabled", "true"))
        .write_empty()?;
    w.create_element("single_instance").write_empty()?;

    comment(w, WHY_SINGLE_USER)?;
    w.create_element("dependency")
        .with_attributes([
            ("name", "single-user"),
            ("grouping", "require_all"),
            ("restart_on", "none"),
            ("type", "service"),
        ])
        .write_inner_content(|w| fmri(w, "svc:/milestone/single-user"))?;

    comment(w, WHY_DEPENDENT)?;
    w.create_element("dependent")
        .with_attributes([
            ("name", short_name),
            ("grouping", "require_all"),
            ("restart_on", "none"),
        ])
        .write_inner_content(|w| fmri(w, "svc:/system/filesystem/local"))?;

    comment(w, WHY_START)?;
    exec_method(w, "start", start)?;
    comment(w, WHY_STOP)?;
    exec_method(w, "stop", ":true")?;

    comment(w, WHY_TRANSIENT)?;
    w.create_element("property_group")
        .with_attributes([("name", "startd"), ("type", "framework")])
        .write_inner_content(|w| {
            w.create_element("propval")
                .with_attributes([
                    ("name", "duration"),
                    ("type", "astring"),
                    ("value", "transient"),
                ])
                .write_empty()?;
            Ok(())
        })?;

    w.create_element("stability")
        .with_attribute(("value", "Unstable"))
        .write_empty()?;

    w.create_element("template").write_inner_content(|w| {
        w.create_element("common_name").write_inner_content(|w| {
            w.create_element("loctext")
                .with_attribute(("xml:lang", "C"))
                .write_text_content(BytesText::new("ZFS encryption key gate"))?;
            Ok(())
        })?;
        w.create_element("documentation").write_inner_content(|w| {
            w.create_element("manpage")
                .with_attributes([("title", "keygate"), ("section", "8")])
                .write_empty()?;
            Ok(())
        })?;
        Ok(())
    })?;
    Ok(())
}

fn exec_method(w: &mut Writer<Vec<u8>>, name: &str, exec: &str) -> io::Result<()> {
    w.create_element("exec_method")
        .with_attributes([
            ("type", "method"),
            ("name", name),
            ("exec", exec),
            ("timeout_seconds", "0"),
        ])
        .write_empty()?;
    Ok(())
}

fn fmri(w: &mut Writer<Vec<u8>>, value: &str) -> io::Result<()> {
    w.create_element("service_fmri")
        .with_attribute(("value", value))
        .write_empty()?;
    Ok(())
}

fn comment(w: &mut Writer<Vec<u8>>, text: &str) -> io::Result<()> {
    debug_assert!(!text.contains("--"), "an XML comment cannot hold --");
    w.write_event(Event::Comment(BytesText::from_escaped(text)))
}
