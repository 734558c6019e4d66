//! A parsed domain XML (roxmltree, the exporter's XML parser) seen as the XPath 1.0 data
//! model, so `xpath_eval` can evaluate `--domain.label` expressions over it. roxmltree keeps
//! attributes and namespaces inside their element, so they become nodes here by index.

use roxmltree::{Node as XmlNode, NodeType};
use std::cmp::Ordering;
use xpath_eval::{ExpandedName, NodeKind};

/// The namespace every element has in XPath 1.0 (roxmltree does not list it).
const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";

/// One XPath node: a roxmltree node, or an attribute or namespace of an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XPathNode<'a> {
    Node(XmlNode<'a, 'a>),
    /// The element's attribute at this index.
    Attribute(XmlNode<'a, 'a>, usize),
    /// The element's in-scope namespace at this index; one past the last is `xml`.
    Namespace(XmlNode<'a, 'a>, usize),
}

/// The root node of `doc`, where label expressions start.
pub fn root<'a>(doc: &'a roxmltree::Document<'a>) -> XPathNode<'a> {
    XPathNode::Node(doc.root())
}

impl<'a> XPathNode<'a> {
    /// Document order: an element, then its namespaces, then its attributes, then its
    /// children (whose ids are larger than their parent's).
    fn order_key(self) -> (usize, u8, usize) {
        match self {
            XPathNode::Node(n) => (n.id().get_usize(), 0, 0),
            XPathNode::Namespace(n, i) => (n.id().get_usize(), 1, i),
            XPathNode::Attribute(n, i) => (n.id().get_usize(), 2, i),
        }
    }

    fn element(self) -> Option<XmlNode<'a, 'a>> {
        match self {
            XPathNode::Node(n) if n.is_element() => Some(n),
            _ => None,
        }
    }

    /// The namespace's prefix (`None` for the default namespace) and URI.
    fn namespace(n: XmlNode<'a, 'a>, i: usize) -> (Option<&'a str>, &'a str) {
        match n.namespaces().nth(i) {
            Some(ns) => (ns.name(), ns.uri()),
            None => (Some("xml"), XML_NAMESPACE),
        }
    }
}

impl<'a> xpath_eval::Node<'a> for XPathNode<'a> {
    fn kind(self) -> NodeKind {
        match self {
            XPathNode::Attribute(..) => NodeKind::Attribute,
            XPathNode::Namespace(..) => NodeKind::Namespace,
            XPathNode::Node(n) => match n.node_type() {
                NodeType::Root => NodeKind::Root,
                NodeType::Element => NodeKind::Element,
                NodeType::PI => NodeKind::ProcessingInstruction,
                NodeType::Comment => NodeKind::Comment,
                NodeType::Text => NodeKind::Text,
            },
        }
    }

    fn parent(self) -> Option<Self> {
        match self {
            XPathNode::Node(n) => n.parent().map(XPathNode::Node),
            XPathNode::Attribute(n, _) | XPathNode::Namespace(n, _) => Some(XPathNode::Node(n)),
        }
    }

    fn children(self) -> impl Iterator<Item = Self> + 'a {
        let parent = match self {
            XPathNode::Node(n) => Some(n),
            _ => None,
        };
        parent
            .into_iter()
            .flat_map(|n| n.children().map(XPathNode::Node))
    }

    fn attributes(self) -> impl Iterator<Item = Self> + 'a {
        self.element()
            .into_iter()
            .flat_map(|n| (0..n.attributes().len()).map(move |i| XPathNode::Attribute(n, i)))
    }

    fn namespaces(self) -> impl Iterator<Item = Self> + 'a {
        self.element()
            .into_iter()
            .flat_map(|n| (0..=n.namespaces().len()).map(move |i| XPathNode::Namespace(n, i)))
    }

    fn expanded_name(self) -> Option<ExpandedName> {
        let name = |uri: Option<&str>, local: &str| ExpandedName {
            namespace_uri: uri.map(str::to_owned),
            local_name: local.to_owned(),
        };
        match self {
            XPathNode::Node(n) if n.is_element() => {
                Some(name(n.tag_name().namespace(), n.tag_name().name()))
            }
            XPathNode::Node(n) => n.pi().map(|pi| name(None, pi.target)),
            XPathNode::Attribute(n, i) => {
                let a = n.attributes().nth(i)?;
                Some(name(a.namespace(), a.name()))
            }
            XPathNode::Namespace(n, i) => Some(name(None, Self::namespace(n, i).0.unwrap_or(""))),
        }
    }

    fn has_expanded_name(self, namespace_uri: Option<&str>, local_name: &str) -> bool {
        match self {
            XPathNode::Node(n) if n.is_element() => {
                n.tag_name().name() == local_name && n.tag_name().namespace() == namespace_uri
            }
            XPathNode::Attribute(n, i) => n
                .attributes()
                .nth(i)
                .is_some_and(|a| a.name() == local_name && a.namespace() == namespace_uri),
            _ => self.expanded_name().is_some_and(|e| {
                e.local_name == local_name && e.namespace_uri.as_deref() == namespace_uri
            }),
        }
    }

    fn string_value(self) -> String {
        self.with_string_value(str::to_owned)
    }

    fn with_string_value<R>(self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            XPathNode::Node(n) => match n.node_type() {
                NodeType::Text | NodeType::Comment => f(n.text().unwrap_or("")),
                NodeType::PI => f(n.pi().and_then(|pi| pi.value).unwrap_or("")),
                NodeType::Root | NodeType::Element => {
                    let text: String = n
                        .descendants()
                        .filter(XmlNode::is_text)
                        .filter_map(|t| t.text())
                        .collect();
                    f(&text)
                }
            },
            XPathNode::Attribute(n, i) => f(n.attributes().nth(i).map_or("", |a| a.value())),
            XPathNode::Namespace(n, i) => f(Self::namespace(n, i).1),
        }
    }

    fn document_order(self, other: Self) -> Ordering {
        self.order_key().cmp(&other.order_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpath_eval::Node as _;

    const XML: &str = "<?pi x?><d xmlns:a='urn:a' k='v'><!--c--><a:e a:x='1'>t<f>u</f></a:e></d>";

    #[test]
    fn kinds_names_values_and_document_order_follow_xpath() {
        let doc = roxmltree::Document::parse(XML).unwrap();
        let root = root(&doc);
        assert_eq!(root.kind(), NodeKind::Root);
        assert_eq!(root.string_value(), "tu");
        let kids: Vec<_> = root.children().collect();
        assert_eq!(kids[0].kind(), NodeKind::ProcessingInstruction);
        assert_eq!(kids[0].expanded_name().unwrap().local_name, "pi");
        assert_eq!(kids[0].string_value(), "x");
        let d = kids[1];
        let attrs: Vec<_> = d.attributes().collect();
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs[0].string_value(), "v");
        assert_eq!(attrs[0].parent(), Some(d));
        let ns: Vec<_> = d.namespaces().map(|n| n.string_value()).collect();
        assert_eq!(ns, ["urn:a", XML_NAMESPACE]);
        let e = d.children().nth(1).unwrap();
        assert!(e.has_expanded_name(Some("urn:a"), "e"));
        assert!(!e.has_expanded_name(None, "e"));
        let x = e.attributes().next().unwrap();
        assert!(x.has_expanded_name(Some("urn:a"), "x"));
        assert_eq!(d.children().next().unwrap().string_value(), "c");
        // element < its namespaces < its attributes < its children
        let order = [d, d.namespaces().next().unwrap(), attrs[0], e, x];
        for pair in order.windows(2) {
            assert_eq!(pair[0].document_order(pair[1]), Ordering::Less, "{pair:?}");
        }
    }
}
