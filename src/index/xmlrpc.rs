//! XML-RPC (<https://xmlrpc.com/spec.md>), as much of it as a package index's change feed
//! needs: a `<methodCall>` with integer and string parameters, and the `<methodResponse>`
//! that answers it — one value of any type (`int`/`i4`/`i8`, `boolean`, `string` or bare
//! text, `double`, `dateTime.iso8601`, `base64`, `nil`, `array`, `struct`), or a `<fault>`,
//! which is an error naming its code and string.
//!
//! The answer comes from the network: it is parsed with a real XML parser (`roxmltree`)
//! with document type declarations refused (no entity expansion tricks) and a bound on the
//! number of nodes, and values nest at most [`MAX_DEPTH`] deep. Bad input is an
//! [`XmlRpcError`], never a panic.

use std::fmt::Write as _;

/// How deep values may nest (arrays of arrays…); PyPI's answers nest two deep.
pub const MAX_DEPTH: usize = 32;

/// The most XML nodes an answer may have: PyPI caps a changelog answer at about 50,000
/// entries of five values, some 20 nodes each.
const MAX_NODES: u32 = 4_000_000;

/// One XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Bool(bool),
    String(String),
    Double(f64),
    /// As written (`19980717T14:08:55`); the feed does not need it parsed.
    DateTime(String),
    /// As written (base64 text).
    Base64(String),
    Nil,
    Array(Vec<Value>),
    Struct(Vec<(String, Value)>),
}

impl Value {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The text, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The type's XML-RPC name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Bool(_) => "boolean",
            Value::String(_) => "string",
            Value::Double(_) => "double",
            Value::DateTime(_) => "dateTime.iso8601",
            Value::Base64(_) => "base64",
            Value::Nil => "nil",
            Value::Array(_) => "array",
            Value::Struct(_) => "struct",
        }
    }
}

/// Why an answer gave no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlRpcError {
    #[error("not XML: {0}")]
    NotXml(String),
    #[error("not an XML-RPC response: {0}")]
    Malformed(String),
    #[error("XML-RPC fault {code}: {message}")]
    Fault { code: i64, message: String },
}

/// The body of a call of `method` with `params` (integers and strings; other values are
/// written as XML-RPC writes them).
pub fn method_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodCall><methodName>");
    out.push_str(&escape(method));
    out.push_str("</methodName><params>");
    for p in params {
        out.push_str("<param>");
        write_value(&mut out, p);
        out.push_str("</param>");
    }
    out.push_str("</params></methodCall>\n");
    out
}

fn write_value(out: &mut String, value: &Value) {
    out.push_str("<value>");
    match value {
        Value::Int(n) if i32::try_from(*n).is_ok() => {
            let _ = write!(out, "<int>{n}</int>");
        }
        Value::Int(n) => {
            let _ = write!(out, "<i8>{n}</i8>");
        }
        Value::Bool(b) => {
            let _ = write!(out, "<boolean>{}</boolean>", u8::from(*b));
        }
        Value::String(s) => {
            let _ = write!(out, "<string>{}</string>", escape(s));
        }
        Value::Double(d) => {
            let _ = write!(out, "<double>{d}</double>");
        }
        Value::DateTime(s) => {
            let _ = write!(out, "<dateTime.iso8601>{}</dateTime.iso8601>", escape(s));
        }
        Value::Base64(s) => {
            let _ = write!(out, "<base64>{}</base64>", escape(s));
        }
        Value::Nil => out.push_str("<nil/>"),
        Value::Array(items) => {
            out.push_str("<array><data>");
            for item in items {
                write_value(out, item);
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>");
            for (name, v) in members {
                let _ = write!(out, "<member><name>{}</name>", escape(name));
                write_value(out, v);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>");
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The value a `<methodResponse>` carries; a `<fault>` is [`XmlRpcError::Fault`].
pub fn parse_response(text: &str) -> Result<Value, XmlRpcError> {
    parse_bounded(text, MAX_NODES)
}

/// [`parse_response`] with at most `nodes` XML nodes.
fn parse_bounded(text: &str, nodes: u32) -> Result<Value, XmlRpcError> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: nodes,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| XmlRpcError::NotXml(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "methodResponse" {
        return Err(malformed(format!(
            "the root element is <{}>, not <methodResponse>",
            root.tag_name().name()
        )));
    }
    let top = only_child(root, "<methodResponse>")?;
    match top.tag_name().name() {
        "params" => {
            let param = only_child(top, "<params>")?;
            expect_name(param, "param")?;
            let value = only_child(param, "<param>")?;
            parse_value(value, 0)
        }
        "fault" => {
            let value = only_child(top, "<fault>")?;
            Err(fault(parse_value(value, 0)?))
        }
        other => Err(malformed(format!(
            "<methodResponse> holds <{other}>, not <params> or <fault>"
        ))),
    }
}

fn malformed(reason: String) -> XmlRpcError {
    XmlRpcError::Malformed(reason)
}

/// A fault's struct as the error it stands for.
fn fault(value: Value) -> XmlRpcError {
    let Value::Struct(members) = value else {
        return malformed(format!("a fault holding a {}, not a struct", value.kind()));
    };
    let member = |name: &str| members.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let code = member("faultCode").and_then(Value::as_int).unwrap_or(0);
    let message = member("faultString")
        .and_then(Value::as_str)
        .unwrap_or("(no faultString)");
    XmlRpcError::Fault {
        code,
        message: one_line(message),
    }
}

/// A fault string on one line, at most 300 characters (PyPI's carry Python tracebacks).
fn one_line(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 300 {
        let mut cut: String = line.chars().take(300).collect();
        cut.push('…');
        cut
    } else {
        line
    }
}

/// The element children of `node`; text between them must be blank.
fn element_children<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
) -> Result<Vec<roxmltree::Node<'a, 'i>>, XmlRpcError> {
    let mut out = Vec::new();
    for child in node.children() {
        if child.is_element() {
            out.push(child);
        } else if child.is_text() && !child.text().unwrap_or_default().trim().is_empty() {
            return Err(malformed(format!(
                "text {:?} inside <{}>",
                snippet(child.text().unwrap_or_default()),
                node.tag_name().name()
            )));
        }
    }
    Ok(out)
}

/// The one element child of `node`.
fn only_child<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    what: &str,
) -> Result<roxmltree::Node<'a, 'i>, XmlRpcError> {
    let children = element_children(node)?;
    match children.as_slice() {
        [one] => Ok(*one),
        [] => Err(malformed(format!("{what} is empty"))),
        many => Err(malformed(format!(
            "{what} holds {} elements, not one",
            many.len()
        ))),
    }
}

fn expect_name(node: roxmltree::Node<'_, '_>, name: &str) -> Result<(), XmlRpcError> {
    if node.tag_name().name() == name {
        Ok(())
    } else {
        Err(malformed(format!(
            "<{}> where <{name}> belongs",
            node.tag_name().name()
        )))
    }
}

/// The text of a scalar element (its text children joined).
fn text_of(node: roxmltree::Node<'_, '_>) -> Result<String, XmlRpcError> {
    let mut text = String::new();
    for child in node.children() {
        if child.is_element() {
            return Err(malformed(format!(
                "<{}> inside <{}>",
                child.tag_name().name(),
                node.tag_name().name()
            )));
        }
        if let Some(t) = child.text() {
            text.push_str(t);
        }
    }
    Ok(text)
}

/// A `<value>` element.
fn parse_value(node: roxmltree::Node<'_, '_>, depth: usize) -> Result<Value, XmlRpcError> {
    expect_name(node, "value")?;
    if depth >= MAX_DEPTH {
        return Err(malformed(format!("values nest more than {MAX_DEPTH} deep")));
    }
    // No type element: the text is a string.
    if !node.children().any(|c| c.is_element()) {
        return text_of(node).map(Value::String);
    }
    let children = element_children(node)?;
    let typed = match children.as_slice() {
        [] => return text_of(node).map(Value::String),
        [one] => *one,
        many => {
            return Err(malformed(format!(
                "<value> holds {} elements, not one",
                many.len()
            )));
        }
    };
    let name = typed.tag_name().name();
    let scalar = || text_of(typed);
    let number = |text: String| -> Result<i64, XmlRpcError> {
        text.trim()
            .parse::<i64>()
            .map_err(|_| malformed(format!("<{name}> {:?} is not an integer", snippet(&text))))
    };
    Ok(match name {
        "int" | "i4" | "i8" => Value::Int(number(scalar()?)?),
        "boolean" => match scalar()?.trim() {
            "0" => Value::Bool(false),
            "1" => Value::Bool(true),
            other => {
                return Err(malformed(format!(
                    "<boolean> {:?} is not 0 or 1",
                    snippet(other)
                )));
            }
        },
        "string" => Value::String(scalar()?),
        "double" => {
            let text = scalar()?;
            Value::Double(
                text.trim().parse::<f64>().map_err(|_| {
                    malformed(format!("<double> {:?} is not a number", snippet(&text)))
                })?,
            )
        }
        "dateTime.iso8601" => Value::DateTime(scalar()?.trim().to_string()),
        "base64" => Value::Base64(scalar()?.trim().to_string()),
        "nil" => {
            if !scalar()?.trim().is_empty() {
                return Err(malformed("<nil> with content".into()));
            }
            Value::Nil
        }
        "array" => {
            let data = only_child(typed, "<array>")?;
            expect_name(data, "data")?;
            let items = element_children(data)?
                .into_iter()
                .map(|v| parse_value(v, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Value::Array(items)
        }
        "struct" => {
            let mut members = Vec::new();
            for member in element_children(typed)? {
                expect_name(member, "member")?;
                let parts = element_children(member)?;
                let [key, value] = parts.as_slice() else {
                    return Err(malformed(format!(
                        "<member> holds {} elements, not <name> and <value>",
                        parts.len()
                    )));
                };
                expect_name(*key, "name")?;
                members.push((text_of(*key)?, parse_value(*value, depth + 1)?));
            }
            Value::Struct(members)
        }
        other => return Err(malformed(format!("unknown value type <{other}>"))),
    })
}

/// At most 40 characters of `text`, for error messages.
fn snippet(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(value: &str) -> String {
        format!(
            "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n{value}\n</param>\n\
             </params>\n</methodResponse>\n"
        )
    }

    #[test]
    fn calls_are_written_as_the_spec_says() {
        assert_eq!(
            method_call("changelog_since_serial", &[Value::Int(41_000_000)]),
            "<?xml version=\"1.0\"?>\n<methodCall><methodName>changelog_since_serial</methodName>\
             <params><param><value><int>41000000</int></value></param></params></methodCall>\n"
        );
        assert_eq!(
            method_call("changelog_last_serial", &[]),
            "<?xml version=\"1.0\"?>\n<methodCall><methodName>changelog_last_serial</methodName>\
             <params></params></methodCall>\n"
        );
        // Beyond 32 bits, i8; text escaped.
        let call = method_call("m", &[Value::Int(1 << 40), Value::String("a<b&c".into())]);
        assert!(call.contains("<i8>1099511627776</i8>"), "{call}");
        assert!(call.contains("<string>a&lt;b&amp;c</string>"), "{call}");
        // What is written reads back.
        let value = Value::Array(vec![
            Value::Int(-3),
            Value::Bool(true),
            Value::Nil,
            Value::Struct(vec![("k".into(), Value::String("<v>".into()))]),
        ]);
        let body = method_call("m", std::slice::from_ref(&value));
        let inner = body
            .split_once("<param>")
            .and_then(|(_, rest)| rest.split_once("</param>"))
            .unwrap()
            .0;
        assert_eq!(parse_response(&response(inner)), Ok(value));
    }

    #[test]
    fn responses_fixture_table() {
        use Value::*;
        let s = |t: &str| String(t.to_string());
        let cases: Vec<(&str, Result<Value, &str>)> = vec![
            ("<value><int>41753165</int></value>", Ok(Int(41_753_165))),
            ("<value><i4> -7 </i4></value>", Ok(Int(-7))),
            (
                "<value><i8>9007199254740993</i8></value>",
                Ok(Int(9_007_199_254_740_993)),
            ),
            ("<value><boolean>1</boolean></value>", Ok(Bool(true))),
            (
                "<value><string>a &amp; b &#x263A;</string></value>",
                Ok(s("a & b \u{263a}")),
            ),
            ("<value>bare text</value>", Ok(s("bare text"))),
            ("<value></value>", Ok(s(""))),
            ("<value><string/></value>", Ok(s(""))),
            ("<value><![CDATA[<x>]]></value>", Ok(s("<x>"))),
            ("<value><double>1.5</double></value>", Ok(Double(1.5))),
            ("<value><nil/></value>", Ok(Nil)),
            (
                "<value><dateTime.iso8601>20261207T01:02:03</dateTime.iso8601></value>",
                Ok(DateTime("20261207T01:02:03".into())),
            ),
            (
                "<value><base64>aGk=</base64></value>",
                Ok(Base64("aGk=".into())),
            ),
            ("<value><array><data/></array></value>", Ok(Array(vec![]))),
            (
                // One changelog entry as PyPI writes it (a removed project has no version).
                "<value><array><data>\n<value><array><data>\n<value><string>Django</string></value>\n\
                 <value><nil/></value>\n<value><int>1765069200</int></value>\n\
                 <value><string>remove project</string></value>\n<value><int>42</int></value>\n\
                 </data></array></value>\n</data></array></value>",
                Ok(Array(vec![Array(vec![
                    s("Django"),
                    Nil,
                    Int(1_765_069_200),
                    s("remove project"),
                    Int(42),
                ])])),
            ),
            (
                "<value><struct><member><name>a</name><value><int>1</int></value></member>\
                 </struct></value>",
                Ok(Struct(vec![("a".into(), Int(1))])),
            ),
            (
                "<value><int>12x</int></value>",
                Err("<int> \"12x\" is not an integer"),
            ),
            (
                "<value><int>99999999999999999999</int></value>",
                Err("is not an integer"),
            ),
            (
                "<value><boolean>yes</boolean></value>",
                Err("is not 0 or 1"),
            ),
            (
                "<value><double>fast</double></value>",
                Err("is not a number"),
            ),
            (
                "<value><float>1</float></value>",
                Err("unknown value type <float>"),
            ),
            (
                "<value><int>1</int><int>2</int></value>",
                Err("holds 2 elements"),
            ),
            (
                "<value><array><value/></array></value>",
                Err("<value> where <data> belongs"),
            ),
            (
                "<value><string><b>x</b></string></value>",
                Err("<b> inside <string>"),
            ),
            ("<value><nil>x</nil></value>", Err("<nil> with content")),
            (
                "<value><struct><member><name>a</name></member></struct></value>",
                Err("<member> holds 1 elements"),
            ),
            ("<notvalue/>", Err("<notvalue> where <value> belongs")),
        ];
        for (value, want) in cases {
            let got = parse_response(&response(value));
            match (&got, &want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{value}"),
                (Err(err), Err(want)) => {
                    assert!(err.to_string().contains(want), "{value}: {err}")
                }
                _ => panic!("{value}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_fault_is_an_error_with_its_code_and_string() {
        let body = "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n\
            <member>\n<name>faultCode</name>\n<value><int>-32500</int></value>\n</member>\n\
            <member>\n<name>faultString</name>\n<value><string>&lt;class 'ValueError'&gt;:\n\
            since_serial too old</string></value>\n</member>\n</struct></value>\n</fault>\n\
            </methodResponse>\n";
        assert_eq!(
            parse_response(body),
            Err(XmlRpcError::Fault {
                code: -32500,
                message: "<class 'ValueError'>: since_serial too old".into()
            })
        );
        let odd = "<methodResponse><fault><value><int>3</int></value></fault></methodResponse>";
        assert_eq!(
            parse_response(odd).unwrap_err().to_string(),
            "not an XML-RPC response: a fault holding a int, not a struct"
        );
        let long = format!(
            "<methodResponse><fault><value><struct><member><name>faultString</name>\
             <value>{}</value></member></struct></value></fault></methodResponse>",
            "x".repeat(1000)
        );
        match parse_response(&long) {
            Err(XmlRpcError::Fault { code: 0, message }) => {
                assert_eq!(message.chars().count(), 301)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_and_broken_answers_are_errors() {
        let deep = format!(
            "<methodResponse><params><param>{}{}</param></params></methodResponse>",
            "<value><array><data>".repeat(200),
            "</data></array></value>".repeat(200)
        );
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "not XML"),
            (
                "<html><body>404 Not Found</body></html>".into(),
                "the root element is <html>",
            ),
            ("<methodResponse>".into(), "not XML"),
            ("\u{0}\u{1}binary".into(), "not XML"),
            ("<methodResponse/>".into(), "<methodResponse> is empty"),
            (
                "<methodResponse><params/><params/></methodResponse>".into(),
                "holds 2 elements",
            ),
            ("<methodResponse><x/></methodResponse>".into(), "holds <x>"),
            (
                "<methodResponse><params/></methodResponse>".into(),
                "<params> is empty",
            ),
            (
                "<methodResponse><params><param></param></params></methodResponse>".into(),
                "<param> is empty",
            ),
            (
                "<methodResponse>junk<params><param><value/></param></params></methodResponse>"
                    .into(),
                "text \"junk\" inside <methodResponse>",
            ),
            (
                "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>\
                 <methodResponse><params><param><value>&lol2;</value></param></params>\
                 </methodResponse>"
                    .into(),
                "not XML",
            ),
            (
                "<methodResponse><params><param><value>&undefined;</value></param></params>\
                 </methodResponse>"
                    .into(),
                "not XML",
            ),
            (deep, "nest more than 32 deep"),
        ];
        for (body, want) in cases {
            let err = parse_response(&body).unwrap_err();
            assert!(err.to_string().contains(want), "{body:.80}: {err}");
        }
    }

    #[test]
    fn truncated_and_mutated_answers_never_panic() {
        let changelog = response(
            "<value><array><data>\n<value><array><data>\n<value><string>Django</string>\
             </value>\n<value><string>5.2</string></value>\n<value><int>1765069200</int>\
             </value>\n<value><string>new release</string></value>\n<value><int>42</int>\
             </value>\n</data></array></value>\n<value><array><data><value>x</value><value>\
             <nil/></value><value><i4>1</i4></value><value>remove project</value><value>\
             <i8>43</i8></value></data></array></value>\n</data></array></value>",
        );
        let fault = "<methodResponse><fault><value><struct><member><name>faultCode</name>\
            <value><int>1</int></value></member><member><name>faultString</name><value>\
            <string>no</string></value></member></struct></value></fault></methodResponse>";
        for body in [changelog.as_str(), fault] {
            assert!(matches!(
                parse_response(body),
                Ok(Value::Array(_)) | Err(XmlRpcError::Fault { .. })
            ));
            for end in 0..body.len() {
                if body.is_char_boundary(end) {
                    let _ = parse_response(&body[..end]);
                }
            }
            for at in 0..body.len() {
                for c in ["<", ">", "&", "/", "\0", "x", "\u{e9}", "<value>", "]]>"] {
                    let mut mutated = body.to_string();
                    mutated.replace_range(at..at + 1, c);
                    let _ = parse_response(&mutated);
                }
            }
        }
    }

    #[test]
    fn huge_answers_stop_at_the_node_bound() {
        let body = format!(
            "<methodResponse><params><param><value><array><data>{}</data></array></value>\
             </param></params></methodResponse>",
            "<value><int>1</int></value>".repeat(600)
        );
        assert!(parse_bounded(&body, 2000).is_ok());
        let err = parse_bounded(&body, 1000).unwrap_err();
        assert!(matches!(err, XmlRpcError::NotXml(_)), "{err}");
    }
}
