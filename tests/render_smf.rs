//! The SMF manifest, read back with quick-xml's reader: with the options of
//! the original `nest` manifest it says the same thing, element by element,
//! in the order the service_bundle DTD requires.

use clap::Parser;
use keygate::cli::{Cli, Command as Sub};
use quick_xml::Reader;
use quick_xml::events::Event;

/// An element as read back: its name, attributes in order, and children.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn child(&self, name: &str) -> &Node {
        let found: Vec<_> = self.children.iter().filter(|c| c.name == name).collect();
        assert_eq!(found.len(), 1, "exactly one <{name}> in <{}>", self.name);
        found[0]
    }

    fn children_named(&self, name: &str) -> Vec<&Node> {
        self.children.iter().filter(|c| c.name == name).collect()
    }

    fn assert_attrs(&self, expected: &[(&str, &str)]) {
        let got: Vec<(&str, &str)> = self
            .attrs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        let mut want = expected.to_vec();
        want.sort();
        assert_eq!(got_sorted, want, "attributes of <{}>", self.name);
    }
}

struct Parsed {
    doctype: String,
    comments_before_root: Vec<String>,
    root: Node,
}

fn node_from(e: &quick_xml::events::BytesStart<'_>) -> Node {
    Node {
        name: e.name().as_ref().to_owned(),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    a.key.as_ref().to_owned(),
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap()
                        .into_owned(),
                )
            })
            .collect(),
        ..Node::default()
    }
}

fn parse(xml: &str) -> Parsed {
    let mut reader = Reader::from_str(xml);
    let mut doctype = String::new();
    let mut comments_before_root = Vec::new();
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::DocType(d) => doctype = String::from(&*d),
            Event::Comment(c) if stack.len() == 1 => comments_before_root.push(String::from(&*c)),
            Event::Start(e) => stack.push(node_from(&e)),
            Event::Empty(e) => stack.last_mut().unwrap().children.push(node_from(&e)),
            Event::Text(t) => stack
                .last_mut()
                .unwrap()
                .text
                .push_str(t.xml10_content().trim()),
            Event::End(_) => {
                let done = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(done);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut top = stack.pop().unwrap();
    assert!(stack.is_empty(), "every element is closed");
    assert_eq!(top.children.len(), 1, "one root element");
    Parsed {
        doctype,
        comments_before_root,
        root: top.children.pop().unwrap(),
    }
}

fn manifest(line: &[&str]) -> String {
    let argv = ["keygate", "render", "smf"].iter().chain(line);
    let Sub::Render(args) = Cli::try_parse_from(argv).unwrap().command else {
        panic!("not render");
    };
    let files = keygate::render::render(&args).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].name, "keygate.xml");
    files[0].contents.clone()
}

#[test]
fn nest_manifest_says_what_the_original_said() {
    let xml = manifest(&[
        "--service-name",
        "system/filesystem/nest",
        "--mode",
        "hint",
        "nest",
    ]);
    assert!(xml.starts_with("<?xml version=\"1.0\"?>\n"));
    let doc = parse(&xml);
    assert_eq!(
        doc.doctype,
        r#"service_bundle SYSTEM "/usr/share/lib/xml/dtd/service_bundle.dtd.1""#
    );
    assert!(
        doc.comments_before_root
            .iter()
            .any(|c| c.contains("keygate render smf")),
        "a comment header says where the file comes from"
    );

    let bundle = &doc.root;
    assert_eq!(bundle.name, "service_bundle");
    bundle.assert_attrs(&[("type", "manifest"), ("name", "nest")]);

    let service = bundle.child("service");
    service.assert_attrs(&[
        ("name", "system/filesystem/nest"),
        ("type", "service"),
        ("version", "1"),
    ]);

    // The order the DTD gives for a service's children.
    let dtd_order = [
        "create_default_instance",
        "single_instance",
        "restarter",
        "dependency",
        "dependent",
        "method_context",
        "exec_method",
        "property_group",
        "instance",
        "stability",
        "template",
    ];
    let ranks: Vec<usize> = service
        .children
        .iter()
        .map(|c| {
            dtd_order
                .iter()
                .position(|n| *n == c.name)
                .unwrap_or_else(|| panic!("<{}> is not a child the DTD allows", c.name))
        })
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "children in DTD order: {:?}",
        service.children.iter().map(|c| &c.name).collect::<Vec<_>>()
    );

    service
        .child("create_default_instance")
        .assert_attrs(&[("enabled", "true")]);
    service.child("single_instance").assert_attrs(&[]);

    let dep = service.child("dependency");
    dep.assert_attrs(&[
        ("name", "single-user"),
        ("grouping", "require_all"),
        ("restart_on", "none"),
        ("type", "service"),
    ]);
    dep.child("service_fmri")
        .assert_attrs(&[("value", "svc:/milestone/single-user")]);

    let dependent = service.child("dependent");
    dependent.assert_attrs(&[
        ("name", "nest"),
        ("grouping", "require_all"),
        ("restart_on", "none"),
    ]);
    dependent
        .child("service_fmri")
        .assert_attrs(&[("value", "svc:/system/filesystem/local")]);

    let methods = service.children_named("exec_method");
    assert_eq!(methods.len(), 2);
    methods[0].assert_attrs(&[
        ("type", "method"),
        ("name", "start"),
        (
            "exec",
            "/usr/sbin/keygate --service-manager smf gate --mode hint nest",
        ),
        ("timeout_seconds", "0"),
    ]);
    methods[1].assert_attrs(&[
        ("type", "method"),
        ("name", "stop"),
        ("exec", ":true"),
        ("timeout_seconds", "0"),
    ]);

    let pg = service.child("property_group");
    pg.assert_attrs(&[("name", "startd"), ("type", "framework")]);
    pg.child("propval").assert_attrs(&[
        ("name", "duration"),
        ("type", "astring"),
        ("value", "transient"),
    ]);

    let stability = service.child("stability").attr("value").unwrap();
    assert!(["Unstable", "Evolving"].contains(&stability), "{stability}");

    let template = service.child("template");
    let loctext = template.child("common_name").child("loctext");
    loctext.assert_attrs(&[("xml:lang", "C")]);
    assert!(!loctext.text.is_empty());
    template
        .child("documentation")
        .child("manpage")
        .assert_attrs(&[("title", "keygate"), ("section", "8")]);
}

#[test]
fn default_manifest_names_keygate() {
    let doc = parse(&manifest(&[]));
    assert_eq!(doc.root.attr("name"), Some("keygate"));
    let service = doc.root.child("service");
    assert_eq!(service.attr("name"), Some("system/filesystem/keygate"));
    assert_eq!(service.child("dependent").attr("name"), Some("keygate"));
    assert_eq!(
        service.children_named("exec_method")[0].attr("exec"),
        Some("/usr/sbin/keygate --service-manager smf gate")
    );
}

#[test]
fn every_option_reaches_the_start_method() {
    let doc = parse(&manifest(&[
        "--binary",
        "/opt/kg/keygate",
        "--mode",
        "wait",
        "--console",
        "/dev/msglog",
        "--timeout",
        "1h",
        "--on-timeout",
        "continue",
        "rpool/a",
        "tank",
    ]));
    assert_eq!(
        doc.root.child("service").children_named("exec_method")[0].attr("exec"),
        Some(
            "/opt/kg/keygate --service-manager smf gate --mode wait --console /dev/msglog \
             --timeout 1h --on-timeout continue rpool/a tank"
        )
    );
}
