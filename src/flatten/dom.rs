//! A mirror of each window's DOM, so that a click's bare rrweb node id resolves to the element.
//!
//! The mirror is built from a FullSnapshot's serialized tree and kept current by Mutation events
//! in rrweb's replay order (removes, adds, texts, attributes). Siblings are a doubly linked list,
//! so inserting before a node, appending and removing are O(1) whatever the page size; removing a
//! subtree costs its size. Only what resolving needs is kept per node: the tag, the attributes as
//! strings, text, and the links.
//!
//! [`Mirror::describe`] gives an element's tag, id, classes, a stable CSS selector
//! (`tag#id.class` parts with `:nth-of-type(k)` where siblings would be ambiguous, up to the
//! nearest ancestor with an id), its visible text (whitespace-collapsed, capped) and the href of
//! the link it is in.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Visible text is capped at this many characters.
pub const MAX_TEXT_CHARS: usize = 200;
/// Attribute values in [`Target::attributes`] are cut at this many characters (inline styles
/// and data URLs can be huge).
pub const MAX_ATTRIBUTE_CHARS: usize = 1024;
/// At most this many nodes are visited to collect an element's text.
const MAX_TEXT_NODES: usize = 2_000;
/// Selector parts at most (a very deep page without ids gets a truncated, still unique-ish path).
const MAX_SELECTOR_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Document,
    Element { tag: Box<str>, attrs: Attrs },
    Text(Box<str>),
    Other,
}

type AttrList = Vec<(Box<str>, Box<str>)>;

/// An element's attributes. Most elements of a page are never clicked, so a snapshot's attributes
/// are kept as their JSON text (one allocation) and parsed only when an element is described or
/// an attribute mutation touches it.
#[derive(Debug, Clone, PartialEq)]
enum Attrs {
    /// The serialized attributes object, unparsed.
    Raw(Box<str>),
    List(AttrList),
}

impl Attrs {
    fn from_raw(raw: Option<&RawValue>) -> Attrs {
        match raw.map(|r| r.get()) {
            Some(r) if r.starts_with('{') && r[1..].trim_start() != "}" => Attrs::Raw(r.into()),
            _ => Attrs::List(Vec::new()),
        }
    }

    fn list(&self) -> Cow<'_, [(Box<str>, Box<str>)]> {
        match self {
            Attrs::Raw(r) => Cow::Owned(parse_attrs(r)),
            Attrs::List(l) => Cow::Borrowed(l),
        }
    }

    fn make_mut(&mut self) -> &mut AttrList {
        if let Attrs::Raw(r) = self {
            *self = Attrs::List(parse_attrs(r));
        }
        match self {
            Attrs::List(l) => l,
            Attrs::Raw(_) => unreachable!("just parsed"),
        }
    }
}

/// A serialized attributes object as name/value pairs in document order (values that are not
/// strings or numbers are left out, as before a click could use them).
fn parse_attrs(raw: &str) -> AttrList {
    serde_json::from_str::<attr_list::Pairs<'_>>(raw)
        .map(|p| {
            p.0.into_iter()
                .filter_map(|(k, v)| attr_value(v).map(|v| (k.as_ref().into(), v)))
                .collect()
        })
        .unwrap_or_default()
}

/// A node's kind from its serialized fields (rrweb's NodeType: 0 document, 2 element, 3 text).
fn node_kind(ty: u8, tag: Option<&str>, attrs: Option<&RawValue>, text: Option<&str>) -> Kind {
    match ty {
        0 => Kind::Document,
        2 => Kind::Element {
            tag: tag.unwrap_or("").to_ascii_lowercase().into(),
            attrs: Attrs::from_raw(attrs),
        },
        3 => Kind::Text(text.unwrap_or("").into()),
        _ => Kind::Other,
    }
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    parent: Option<i64>,
    first_child: Option<i64>,
    last_child: Option<i64>,
    prev: Option<i64>,
    next: Option<i64>,
}

/// What a node id resolves to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Target {
    pub tag: Option<String>,
    pub id: Option<String>,
    pub classes: Option<String>,
    pub selector: Option<String>,
    pub text: Option<String>,
    pub href: Option<String>,
    /// The element's attributes as a JSON object.
    pub attributes: Option<String>,
}

/// Attributes as an ordered list (serde maps into Vec of pairs via this helper).
mod attr_list {
    use super::*;
    use serde::de::{Deserializer, MapAccess, Visitor};

    pub struct Pairs<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

    impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<'a>(std::marker::PhantomData<&'a ()>);
            impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
                type Value = Pairs<'a>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an attribute map")
                }
                fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                    let mut v = Vec::new();
                    while let Some(e) = m.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                        v.push(e);
                    }
                    Ok(Pairs(v))
                }
            }
            d.deserialize_map(V(std::marker::PhantomData))
        }
    }
}

/// rrweb's serialized node (`serializedNodeWithId`); attributes in document order.
#[derive(Deserialize)]
struct SNodeDe<'a> {
    #[serde(rename = "type")]
    ty: u8,
    id: i64,
    #[serde(rename = "tagName", borrow)]
    tag: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    attributes: Option<&'a RawValue>,
    #[serde(rename = "childNodes", borrow, default)]
    children: Vec<SNodeDe<'a>>,
    #[serde(rename = "textContent", borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Mutation<'a> {
    #[serde(default)]
    removes: Vec<Remove>,
    #[serde(borrow, default)]
    adds: Vec<Add<'a>>,
    #[serde(borrow, default)]
    texts: Vec<TextChange<'a>>,
    #[serde(borrow, default)]
    attributes: Vec<AttrChange<'a>>,
}

#[derive(Deserialize)]
struct Remove {
    id: i64,
}

#[derive(Deserialize)]
struct Add<'a> {
    #[serde(rename = "parentId")]
    parent_id: i64,
    #[serde(rename = "nextId")]
    next_id: Option<i64>,
    #[serde(borrow)]
    node: SNodeDe<'a>,
}

#[derive(Deserialize)]
struct TextChange<'a> {
    id: i64,
    #[serde(borrow)]
    value: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct AttrChange<'a> {
    id: i64,
    #[serde(borrow)]
    attributes: attr_list::Pairs<'a>,
}

/// Parses JSON of any depth (DOMs nest deeper than serde_json's default limit) on a growing stack.
fn parse_deep<'a, T: Deserialize<'a>>(json: &'a str) -> Option<T> {
    let mut de = serde_json::Deserializer::from_str(json);
    de.disable_recursion_limit();
    let de = serde_stacker::Deserializer::new(&mut de);
    T::deserialize(de).ok()
}

/// A FullSnapshot's `data` object: its `node` goes into the mirror; the value is the root's id.
struct SnapshotSeed<'m>(NodeSeed<'m>);

impl<'de> DeserializeSeed<'de> for SnapshotSeed<'_> {
    type Value = Option<i64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<i64>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SnapshotSeed<'_> {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a FullSnapshot data object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Option<i64>, M::Error> {
        let NodeSeed { mirror, kids } = self.0;
        let mut root = None;
        while let Some(k) = m.next_key::<Cow<'de, str>>()? {
            if k == "node" && root.is_none() {
                root = m.next_value_seed(NodeSeed {
                    mirror: &mut *mirror,
                    kids: &mut *kids,
                })?;
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(root)
    }
}

/// One serialized node (`serializedNodeWithId`), inserted with its subtree as it is parsed. rrweb
/// writes `id` after `childNodes`, so the children go in first, parentless, their ids on the
/// `kids` stack, and are linked under the node when its object ends. The value is the node's id
/// (`None` for null, or a node without a type or id: its subtree is dropped).
struct NodeSeed<'m> {
    mirror: &'m mut Mirror,
    kids: &'m mut Vec<i64>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Option<i64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<i64>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a serialized rrweb node")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<i64>, E> {
        Ok(None)
    }
    fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Option<i64>, M::Error> {
        let NodeSeed { mirror, kids } = self;
        let start = kids.len();
        let (mut ty, mut id) = (None, None);
        let (mut tag, mut attrs, mut text) = (None, None, None);
        while let Some(k) = m.next_key::<Cow<'de, str>>()? {
            match k.as_ref() {
                "type" => ty = Some(m.next_value::<u8>()?),
                "id" => id = Some(m.next_value::<i64>()?),
                "tagName" => tag = m.next_value::<Option<Cow<'de, str>>>()?,
                "attributes" => attrs = m.next_value::<Option<&'de RawValue>>()?,
                "textContent" => text = m.next_value::<Option<Cow<'de, str>>>()?,
                "childNodes" => m.next_value_seed(ChildrenSeed {
                    mirror: &mut *mirror,
                    kids: &mut *kids,
                })?,
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        let (Some(ty), Some(id)) = (ty, id) else {
            for orphan in kids.drain(start..) {
                mirror.remove_subtree(orphan);
            }
            return Ok(None);
        };
        let kind = node_kind(ty, tag.as_deref(), attrs, text.as_deref());
        mirror.nodes.insert(
            id,
            Node {
                kind,
                parent: None,
                first_child: None,
                last_child: None,
                prev: None,
                next: None,
            },
        );
        for child in kids.drain(start..) {
            mirror.link(child, id, None);
        }
        Ok(Some(id))
    }
}

/// A node's `childNodes`: each child inserted, its id pushed on the `kids` stack.
struct ChildrenSeed<'m> {
    mirror: &'m mut Mirror,
    kids: &'m mut Vec<i64>,
}

impl<'de> DeserializeSeed<'de> for ChildrenSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ChildrenSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of child nodes")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<(), S::Error> {
        let ChildrenSeed { mirror, kids } = self;
        while let Some(child) = s.next_element_seed(NodeSeed {
            mirror: &mut *mirror,
            kids: &mut *kids,
        })? {
            if let Some(id) = child {
                kids.push(id);
            }
        }
        Ok(())
    }
}

fn attr_value(raw: &RawValue) -> Option<Box<str>> {
    let s = raw.get();
    match s.as_bytes().first()? {
        b'"' => serde_json::from_str::<Cow<'_, str>>(s)
            .ok()
            .map(|c| c.into()),
        b'n' => None,
        b'{' | b'[' => None,
        _ => Some(s.into()),
    }
}

/// The DOM mirror of one window.
#[derive(Debug, Default)]
pub struct Mirror {
    /// foldhash: much faster than SipHash on integer keys, and randomly seeded per map (the ids
    /// come from recordings, which a hostile visitor could craft).
    nodes: HashMap<i64, Node, foldhash::fast::RandomState>,
}

impl Mirror {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Replaces the mirror with a FullSnapshot's tree (`data` = the event's decompressed data).
    /// The nodes go into a new mirror as they are parsed (no intermediate tree); data that does
    /// not parse, or has no root node, leaves the mirror as it was.
    pub fn full_snapshot(&mut self, data: &str) {
        let mut fresh = Mirror::default();
        let mut kids = Vec::new();
        let mut de = serde_json::Deserializer::from_str(data);
        de.disable_recursion_limit();
        let de = serde_stacker::Deserializer::new(&mut de);
        let seed = SnapshotSeed(NodeSeed {
            mirror: &mut fresh,
            kids: &mut kids,
        });
        if let Ok(Some(_root)) = seed.deserialize(de) {
            *self = fresh;
        }
    }

    /// Applies a Mutation (`data` = the decompressed data of an IncrementalSnapshot source 0).
    pub fn mutation(&mut self, data: &str) {
        let Some(m) = parse_deep::<Mutation<'_>>(data) else {
            return;
        };
        for r in &m.removes {
            self.remove_subtree(r.id);
        }
        // Adds can refer to parents or next siblings added later in the same batch (rrweb queues
        // them): retry the ones that do not fit yet, while progress is made.
        let mut pending: Vec<Add<'_>> = m.adds;
        loop {
            let before = pending.len();
            let mut later = Vec::new();
            for a in pending {
                let parent_ok = self.nodes.contains_key(&a.parent_id);
                let next_ok = a.next_id.is_none_or(|n| self.nodes.contains_key(&n));
                if parent_ok && next_ok {
                    let id = a.node.id;
                    if self.nodes.contains_key(&id) {
                        self.remove_subtree(id);
                    }
                    self.insert_tree(a.node, Some(a.parent_id), a.next_id);
                } else {
                    later.push(a);
                }
            }
            if later.is_empty() || later.len() == before {
                // what is left has a parent we never saw: attach what we can at the end
                for a in later {
                    if self.nodes.contains_key(&a.parent_id) {
                        self.insert_tree(a.node, Some(a.parent_id), None);
                    }
                }
                break;
            }
            pending = later;
        }
        for t in &m.texts {
            if let Some(Node {
                kind: Kind::Text(text),
                ..
            }) = self.nodes.get_mut(&t.id)
            {
                *text = t.value.as_deref().unwrap_or("").into();
            }
        }
        for a in m.attributes {
            if let Some(Node {
                kind: Kind::Element { attrs, .. },
                ..
            }) = self.nodes.get_mut(&a.id)
            {
                let attrs = attrs.make_mut();
                for (k, v) in a.attributes.0 {
                    let pos = attrs.iter().position(|(n, _)| n.as_ref() == k.as_ref());
                    match (attr_value(v), pos) {
                        (Some(v), Some(i)) => attrs[i].1 = v,
                        (Some(v), None) => attrs.push((k.as_ref().into(), v)),
                        (None, Some(i)) if v.get() == "null" => {
                            attrs.remove(i);
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Inserts a serialized subtree. Iterative, and it takes the tree apart as it goes, so
    /// neither inserting nor dropping it recurses (pages nest deeper than a thread's stack).
    fn insert_tree(&mut self, root: SNodeDe<'_>, parent: Option<i64>, before: Option<i64>) {
        let mut stack: Vec<(SNodeDe<'_>, Option<i64>, Option<i64>)> = vec![(root, parent, before)];
        while let Some((n, parent, before)) = stack.pop() {
            let kind = node_kind(n.ty, n.tag.as_deref(), n.attributes, n.text.as_deref());
            let id = n.id;
            self.nodes.insert(
                id,
                Node {
                    kind,
                    parent,
                    first_child: None,
                    last_child: None,
                    prev: None,
                    next: None,
                },
            );
            if let Some(p) = parent {
                self.link(id, p, before);
            }
            // pushed in reverse, popped in document order, each appended to its parent
            for c in n.children.into_iter().rev() {
                stack.push((c, Some(id), None));
            }
        }
    }

    /// Links `id` under `parent`, before `before` (or last).
    fn link(&mut self, id: i64, parent: i64, before: Option<i64>) {
        let before = before.filter(|b| self.nodes.get(b).is_some_and(|n| n.parent == Some(parent)));
        let prev = match before {
            Some(b) => self.nodes.get(&b).and_then(|n| n.prev),
            None => self.nodes.get(&parent).and_then(|p| p.last_child),
        };
        if let Some(n) = self.nodes.get_mut(&id) {
            n.parent = Some(parent);
            n.prev = prev;
            n.next = before;
        }
        match prev {
            Some(p) => {
                if let Some(pn) = self.nodes.get_mut(&p) {
                    pn.next = Some(id);
                }
            }
            None => {
                if let Some(pn) = self.nodes.get_mut(&parent) {
                    pn.first_child = Some(id);
                }
            }
        }
        match before {
            Some(b) => {
                if let Some(bn) = self.nodes.get_mut(&b) {
                    bn.prev = Some(id);
                }
            }
            None => {
                if let Some(pn) = self.nodes.get_mut(&parent) {
                    pn.last_child = Some(id);
                }
            }
        }
    }

    fn unlink(&mut self, id: i64) {
        let Some(n) = self.nodes.get(&id) else { return };
        let (parent, prev, next) = (n.parent, n.prev, n.next);
        match prev {
            Some(p) => {
                if let Some(pn) = self.nodes.get_mut(&p) {
                    pn.next = next;
                }
            }
            None => {
                if let Some(pn) = parent.and_then(|p| self.nodes.get_mut(&p)) {
                    pn.first_child = next;
                }
            }
        }
        match next {
            Some(x) => {
                if let Some(xn) = self.nodes.get_mut(&x) {
                    xn.prev = prev;
                }
            }
            None => {
                if let Some(pn) = parent.and_then(|p| self.nodes.get_mut(&p)) {
                    pn.last_child = prev;
                }
            }
        }
    }

    fn remove_subtree(&mut self, id: i64) {
        if !self.nodes.contains_key(&id) {
            return;
        }
        self.unlink(id);
        let mut stack = vec![id];
        while let Some(n) = stack.pop() {
            if let Some(node) = self.nodes.remove(&n) {
                let mut c = node.first_child;
                while let Some(cid) = c {
                    c = self.nodes.get(&cid).and_then(|x| x.next);
                    stack.push(cid);
                }
            }
        }
    }

    fn element(&self, id: i64) -> Option<(&str, Cow<'_, [(Box<str>, Box<str>)]>)> {
        match &self.nodes.get(&id)?.kind {
            Kind::Element { tag, attrs } => Some((tag, attrs.list())),
            _ => None,
        }
    }

    /// The tag of an element node.
    fn tag(&self, id: i64) -> Option<&str> {
        match &self.nodes.get(&id)?.kind {
            Kind::Element { tag, .. } => Some(tag),
            _ => None,
        }
    }

    fn attr<'s>(attrs: &'s [(Box<str>, Box<str>)], name: &str) -> Option<&'s str> {
        attrs
            .iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v.as_ref())
    }

    fn children(&self, id: i64) -> impl Iterator<Item = i64> + '_ {
        let mut c = self.nodes.get(&id).and_then(|n| n.first_child);
        std::iter::from_fn(move || {
            let cur = c?;
            c = self.nodes.get(&cur).and_then(|n| n.next);
            Some(cur)
        })
    }

    fn selector_part(&self, id: i64, tag: &str, attrs: &[(Box<str>, Box<str>)]) -> (String, bool) {
        if let Some(eid) = Self::attr(attrs, "id").filter(|v| !v.trim().is_empty()) {
            return (format!("{tag}#{}", css_ident(eid)), true);
        }
        let classes: Vec<&str> = Self::attr(attrs, "class")
            .map(|c| c.split_ascii_whitespace().collect())
            .unwrap_or_default();
        let mut part = tag.to_string();
        for c in &classes {
            part.push('.');
            part.push_str(&css_ident(c));
        }
        if let Some(parent) = self.nodes.get(&id).and_then(|n| n.parent) {
            let mut same_tag = 0usize;
            let mut index = 0usize;
            let mut ambiguous = false;
            for sib in self.children(parent) {
                if self.tag(sib) != Some(tag) {
                    continue;
                }
                same_tag += 1;
                if sib == id {
                    index = same_tag;
                } else {
                    let Some((_, sattrs)) = self.element(sib) else {
                        continue;
                    };
                    let sclasses: Vec<&str> = Self::attr(&sattrs, "class")
                        .map(|c| c.split_ascii_whitespace().collect())
                        .unwrap_or_default();
                    if classes.iter().all(|c| sclasses.contains(c)) {
                        ambiguous = true;
                    }
                }
            }
            if ambiguous && index > 0 {
                part.push_str(&format!(":nth-of-type({index})"));
            }
        }
        (part, false)
    }

    fn text_of(&self, id: i64) -> Option<String> {
        let mut out = String::new();
        let mut stack = vec![id];
        let mut visited = 0;
        while let Some(n) = stack.pop() {
            visited += 1;
            if visited > MAX_TEXT_NODES || out.len() > MAX_TEXT_CHARS * 4 {
                break;
            }
            match self.nodes.get(&n).map(|x| &x.kind) {
                Some(Kind::Text(t)) => {
                    out.push(' ');
                    out.push_str(t);
                }
                Some(Kind::Element { tag, .. })
                    if matches!(tag.as_ref(), "script" | "style" | "noscript" | "template") => {}
                _ => {
                    let kids: Vec<i64> = self.children(n).collect();
                    stack.extend(kids.into_iter().rev());
                }
            }
        }
        let collapsed: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
        if collapsed.is_empty() {
            return None;
        }
        Some(collapsed.chars().take(MAX_TEXT_CHARS).collect())
    }

    /// Resolves a node id to its element (a text node resolves to its parent element).
    pub fn describe(&self, node_id: i64) -> Option<Target> {
        let mut id = node_id;
        if !matches!(self.nodes.get(&id)?.kind, Kind::Element { .. }) {
            id = self.nodes.get(&id)?.parent?;
        }
        let (tag, attrs) = self.element(id)?;
        let mut parts = Vec::new();
        let mut cur = Some(id);
        while let Some(c) = cur {
            let Some((t, a)) = self.element(c) else { break };
            let (part, has_id) = self.selector_part(c, t, &a);
            parts.push(part);
            if has_id || parts.len() >= MAX_SELECTOR_DEPTH || t == "html" {
                break;
            }
            cur = self.nodes.get(&c).and_then(|n| n.parent);
        }
        parts.reverse();
        let mut href = None;
        let mut cur = Some(id);
        for _ in 0..8 {
            let Some(c) = cur else { break };
            if self.tag(c) == Some("a") {
                if let Some((_, a)) = self.element(c) {
                    href = Self::attr(&a, "href").map(str::to_string);
                    break;
                }
            }
            cur = self.nodes.get(&c).and_then(|n| n.parent);
        }
        let attributes = serde_json::Value::Object(
            attrs
                .iter()
                .map(|(k, v)| {
                    let v: String = v.chars().take(MAX_ATTRIBUTE_CHARS).collect();
                    (k.to_string(), serde_json::Value::String(v))
                })
                .collect(),
        );
        Some(Target {
            tag: Some(tag.to_string()),
            id: Self::attr(&attrs, "id").map(str::to_string),
            classes: Self::attr(&attrs, "class")
                .map(|c| c.split_ascii_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|c| !c.is_empty()),
            selector: Some(parts.join(" > ")),
            text: self.text_of(id),
            href,
            attributes: Some(attributes.to_string()),
        })
    }
}

/// Escapes a CSS identifier (ids and classes with unusual characters).
fn css_ident(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        let ok = c.is_ascii_alphanumeric() || c == '-' || c == '_' || !c.is_ascii();
        if ok && !(i == 0 && c.is_ascii_digit()) {
            out.push(c);
        } else if i == 0 && c.is_ascii_digit() {
            out.push_str(&format!("\\{:x} ", c as u32));
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Mirror {
        let mut m = Mirror::default();
        m.full_snapshot(
            r#"{"node":{"type":0,"id":1,"childNodes":[
              {"type":1,"id":2,"name":"html"},
              {"type":2,"id":3,"tagName":"html","attributes":{},"childNodes":[
                {"type":2,"id":4,"tagName":"body","attributes":{},"childNodes":[
                  {"type":2,"id":5,"tagName":"div","attributes":{"class":"list"},"childNodes":[
                    {"type":2,"id":6,"tagName":"button","attributes":{"class":"add"},"childNodes":[{"type":3,"id":7,"textContent":"  Add\n one "}]},
                    {"type":2,"id":8,"tagName":"button","attributes":{"class":"add"},"childNodes":[{"type":3,"id":9,"textContent":"Add two"}]},
                    {"type":2,"id":10,"tagName":"a","attributes":{"href":"/p","id":"to-p"},"childNodes":[
                      {"type":2,"id":11,"tagName":"span","attributes":{},"childNodes":[{"type":3,"id":12,"textContent":"Go"}]}]}
                  ]}]}]}]},"initialOffset":{"top":0,"left":0}}"#,
        );
        m
    }

    #[test]
    fn selectors_text_and_links() {
        let m = page();
        let t = m.describe(8).unwrap();
        assert_eq!(
            t.selector.as_deref(),
            Some("html > body > div.list > button.add:nth-of-type(2)")
        );
        assert_eq!(t.text.as_deref(), Some("Add two"));
        assert_eq!(
            m.describe(7).unwrap().selector.as_deref(),
            Some("html > body > div.list > button.add:nth-of-type(1)")
        );
        assert_eq!(m.describe(7).unwrap().text.as_deref(), Some("Add one"));
        let s = m.describe(11).unwrap();
        assert_eq!(s.selector.as_deref(), Some("a#to-p > span"));
        assert_eq!(s.href.as_deref(), Some("/p"));
        assert_eq!(m.describe(10).unwrap().selector.as_deref(), Some("a#to-p"));
    }

    #[test]
    fn moved_removed_and_readded_nodes() {
        let mut m = page();
        // move button 8 before button 6, change its class just before a click
        m.mutation(r#"{"source":0,"texts":[],"attributes":[],"removes":[{"parentId":5,"id":8}],"adds":[{"parentId":5,"nextId":6,"node":{"type":2,"id":8,"tagName":"button","attributes":{"class":"add"},"childNodes":[]}}]}"#);
        assert_eq!(
            m.describe(8).unwrap().selector.as_deref(),
            Some("html > body > div.list > button.add:nth-of-type(1)")
        );
        assert_eq!(
            m.describe(6).unwrap().selector.as_deref(),
            Some("html > body > div.list > button.add:nth-of-type(2)")
        );
        m.mutation(r#"{"source":0,"texts":[{"id":7,"value":"Added!"}],"attributes":[{"id":6,"attributes":{"class":"add done","id":"first"}}],"removes":[],"adds":[]}"#);
        let t = m.describe(6).unwrap();
        assert_eq!(
            (
                t.selector.as_deref(),
                t.text.as_deref(),
                t.classes.as_deref()
            ),
            (Some("button#first"), Some("Added!"), Some("add done"))
        );
        // removal drops the whole subtree
        m.mutation(r#"{"source":0,"texts":[],"attributes":[],"removes":[{"parentId":4,"id":5}],"adds":[]}"#);
        assert!(m.describe(6).is_none() && m.describe(12).is_none());
        assert_eq!(m.len(), 4);
        // re-added, child before parent in the batch
        m.mutation(r#"{"source":0,"texts":[],"attributes":[],"removes":[],"adds":[
            {"parentId":20,"nextId":null,"node":{"type":3,"id":21,"textContent":"late"}},
            {"parentId":4,"nextId":null,"node":{"type":2,"id":20,"tagName":"p","attributes":{"id":"x"},"childNodes":[]}}]}"#);
        assert_eq!(m.describe(21).unwrap().text.as_deref(), Some("late"));
    }

    #[test]
    fn iframes_and_shadow_roots_as_rrweb_serializes_them() {
        let mut m = page();
        // an iframe whose document is attached by a later mutation (isAttachIframe)
        m.mutation(r#"{"source":0,"texts":[],"attributes":[],"removes":[],"adds":[{"parentId":4,"nextId":null,"node":{"type":2,"id":30,"tagName":"iframe","attributes":{"id":"frame"},"childNodes":[]}}]}"#);
        m.mutation(r#"{"source":0,"isAttachIframe":true,"texts":[],"attributes":[],"removes":[],"adds":[{"parentId":30,"nextId":null,"node":{"type":0,"id":31,"childNodes":[{"type":2,"id":32,"tagName":"html","attributes":{},"childNodes":[{"type":2,"id":33,"tagName":"body","attributes":{},"childNodes":[{"type":2,"id":34,"tagName":"button","attributes":{"class":"pay"},"childNodes":[{"type":3,"id":35,"textContent":"Pay"}]}]}]}]}}]}"#);
        let t = m.describe(34).unwrap();
        assert_eq!(t.text.as_deref(), Some("Pay"));
        assert_eq!(t.selector.as_deref(), Some("html > body > button.pay"));
        // a shadow host's children carry isShadow; they are children like any other
        m.mutation(r#"{"source":0,"texts":[],"attributes":[],"removes":[],"adds":[{"parentId":4,"nextId":null,"node":{"type":2,"id":40,"tagName":"my-widget","attributes":{"id":"w"},"isShadowHost":true,"childNodes":[{"type":2,"id":41,"tagName":"button","attributes":{},"isShadow":true,"childNodes":[]}]}}]}"#);
        assert_eq!(
            m.describe(41).unwrap().selector.as_deref(),
            Some("my-widget#w > button")
        );
    }

    #[test]
    fn large_flat_pages_cost_no_quadratic_work() {
        let n = 100_000;
        let mut kids = String::new();
        for i in 0..n {
            if i > 0 {
                kids.push(',');
            }
            kids.push_str(&format!(
                r#"{{"type":2,"id":{},"tagName":"li","attributes":{{}},"childNodes":[]}}"#,
                100 + i
            ));
        }
        let mut m = Mirror::default();
        m.full_snapshot(&format!(r#"{{"node":{{"type":0,"id":1,"childNodes":[{{"type":2,"id":2,"tagName":"ul","attributes":{{"id":"l"}},"childNodes":[{kids}]}}]}}}}"#));
        assert_eq!(m.len(), n + 2);
        // insert before the first child and remove the middle one: O(1) each
        let mut adds = String::new();
        for i in 0..n {
            if i > 0 {
                adds.push(',');
            }
            adds.push_str(&format!(r#"{{"parentId":2,"nextId":100,"node":{{"type":2,"id":{},"tagName":"li","attributes":{{}},"childNodes":[]}}}}"#, 1_000_000 + i));
        }
        m.mutation(&format!(r#"{{"source":0,"texts":[],"attributes":[],"removes":[{{"parentId":2,"id":50100}}],"adds":[{adds}]}}"#));
        assert_eq!(m.len(), 2 * n + 1);
        let deep = 2000;
        let mut doc = String::new();
        for i in 0..deep {
            doc.push_str(&format!(
                r#"{{"type":2,"id":{},"tagName":"div","attributes":{{}},"childNodes":["#,
                10 + i
            ));
        }
        doc.push_str(&"]}".repeat(deep));
        let mut m = Mirror::default();
        m.full_snapshot(&format!(
            r#"{{"node":{{"type":0,"id":1,"childNodes":[{doc}]}}}}"#
        ));
        assert_eq!(m.len(), deep + 1);
        assert!(
            m.describe(10 + deep as i64 - 1)
                .unwrap()
                .selector
                .unwrap()
                .starts_with("div > div")
        );
    }
}
