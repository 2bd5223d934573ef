//! The `events` table: one row per rrweb event.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use datafusion::arrow::record_batch::RecordBatch;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::dom::Target;
use crate::decode::Event;
use crate::error::Result;
use crate::schema::Table;

/// rrweb EventType names.
pub fn event_type_name(t: i32) -> &'static str {
    match t {
        0 => "DomContentLoaded",
        1 => "Load",
        2 => "FullSnapshot",
        3 => "IncrementalSnapshot",
        4 => "Meta",
        5 => "Custom",
        6 => "Plugin",
        7 => "Asset",
        _ => "Unknown",
    }
}

/// rrweb IncrementalSource names.
pub fn source_name(s: i64) -> Option<&'static str> {
    Some(match s {
        0 => "Mutation",
        1 => "MouseMove",
        2 => "MouseInteraction",
        3 => "Scroll",
        4 => "ViewportResize",
        5 => "Input",
        6 => "TouchMove",
        7 => "MediaInteraction",
        8 => "StyleSheetRule",
        9 => "CanvasMutation",
        10 => "Font",
        11 => "Log",
        12 => "Drag",
        13 => "StyleDeclaration",
        14 => "Selection",
        15 => "AdoptedStyleSheet",
        16 => "CustomElement",
        _ => return None,
    })
}

/// rrweb MouseInteractions names.
pub fn mouse_interaction_name(t: i64) -> Option<&'static str> {
    Some(match t {
        0 => "MouseUp",
        1 => "MouseDown",
        2 => "Click",
        3 => "ContextMenu",
        4 => "DblClick",
        5 => "Focus",
        6 => "Blur",
        7 => "TouchStart",
        8 => "TouchMove_Departed",
        9 => "TouchEnd",
        10 => "TouchCancel",
        _ => return None,
    })
}

fn media_interaction_name(t: i64) -> Option<&'static str> {
    Some(match t {
        0 => "Play",
        1 => "Pause",
        2 => "Seeked",
        3 => "VolumeChange",
        4 => "RateChange",
        _ => return None,
    })
}

#[derive(Deserialize)]
struct Pos {
    x: Option<f64>,
    y: Option<f64>,
}

#[derive(Deserialize, Default)]
struct Wire<'a> {
    source: Option<f64>,
    #[serde(rename = "type")]
    ty: Option<f64>,
    id: Option<f64>,
    x: Option<f64>,
    y: Option<f64>,
    #[serde(rename = "pointerType")]
    pointer_type: Option<f64>,
    positions: Option<Vec<Pos>>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(rename = "isChecked")]
    is_checked: Option<bool>,
    #[serde(borrow)]
    href: Option<Cow<'a, str>>,
    width: Option<f64>,
    height: Option<f64>,
    #[serde(borrow)]
    tag: Option<Cow<'a, str>>,
    #[serde(borrow)]
    plugin: Option<Cow<'a, str>>,
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Console<'a> {
    #[serde(borrow)]
    level: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    payload: Vec<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct HrefPayload<'a> {
    #[serde(borrow)]
    href: Option<Cow<'a, str>>,
}

/// The typed fields of an event's `data` that the tables use.
#[derive(Debug, Default)]
pub struct EventFields<'a> {
    pub source: Option<i64>,
    pub interaction: Option<i64>,
    pub node_id: Option<i64>,
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub pointer_type: Option<i64>,
    pub position_count: Option<i32>,
    pub text: Option<Cow<'a, str>>,
    pub is_checked: Option<bool>,
    /// `data.href` (Meta) or `data.payload.href` (custom events), trimmed.
    pub href: Option<Cow<'a, str>>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub custom_tag: Option<Cow<'a, str>>,
    pub plugin: Option<Cow<'a, str>>,
    pub console_level: Option<Cow<'a, str>>,
    pub console_message: Option<String>,
    pub payload: Option<&'a RawValue>,
}

fn int(v: Option<f64>) -> Option<i64> {
    v.filter(|f| f.is_finite()).map(|f| f as i64)
}

fn lenient(v: &serde_json::Value) -> Wire<'static> {
    let num = |k: &str| {
        v.get(k).and_then(|x| {
            x.as_f64()
                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let s = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(|s| Cow::Owned(s.to_string()))
    };
    Wire {
        source: num("source"),
        ty: num("type"),
        id: num("id"),
        x: num("x"),
        y: num("y"),
        pointer_type: num("pointerType"),
        positions: v.get("positions").and_then(|p| p.as_array()).map(|a| {
            a.iter()
                .map(|p| Pos {
                    x: p.get("x").and_then(|x| x.as_f64()),
                    y: p.get("y").and_then(|x| x.as_f64()),
                })
                .collect()
        }),
        text: s("text"),
        is_checked: v.get("isChecked").and_then(|x| x.as_bool()),
        href: s("href"),
        width: num("width"),
        height: num("height"),
        tag: s("tag"),
        plugin: s("plugin"),
        payload: None,
    }
}

impl<'a> EventFields<'a> {
    /// Reads the fields out of `e.data`. Never fails: fields of unexpected types are left null
    /// (the event's full data stays in the `payload` column).
    pub fn parse(e: &'a Event) -> EventFields<'a> {
        // FullSnapshot data is the whole DOM: nothing in it is a column.
        if e.event_type == 2 || !e.data.starts_with('{') {
            return EventFields::default();
        }
        let w: Wire<'a> = match serde_json::from_str(&e.data) {
            Ok(w) => w,
            // A field of an unexpected type (a string id, say): read what can be read.
            Err(_) => match serde_json::from_str::<serde_json::Value>(&e.data) {
                Ok(v) => lenient(&v),
                Err(_) => return EventFields::default(),
            },
        };
        let mut f = EventFields {
            payload: w.payload,
            plugin: if e.event_type == 6 { w.plugin } else { None },
            custom_tag: if e.event_type == 5 { w.tag } else { None },
            width: int(w.width).map(|v| v as i32),
            height: int(w.height).map(|v| v as i32),
            ..Default::default()
        };
        if e.event_type == 3 {
            f.source = int(w.source);
            f.node_id = int(w.id);
            match f.source {
                Some(2) => {
                    f.interaction = int(w.ty);
                    f.x = w.x;
                    f.y = w.y;
                    f.pointer_type = int(w.pointer_type);
                }
                Some(7) | Some(9) => f.interaction = int(w.ty),
                Some(3) => {
                    f.x = w.x;
                    f.y = w.y;
                }
                Some(1) | Some(6) | Some(12) => {
                    if let Some(p) = &w.positions {
                        f.position_count = Some(p.len() as i32);
                        if let Some(last) = p.last() {
                            f.x = last.x;
                            f.y = last.y;
                        }
                    }
                }
                Some(5) => {
                    f.text = w.text;
                    f.is_checked = w.is_checked;
                }
                _ => {}
            }
        }
        let href = match e.event_type {
            4 => w.href,
            5 => w.href.or_else(|| {
                f.payload
                    .and_then(|p| serde_json::from_str::<HrefPayload<'a>>(p.get()).ok())
                    .and_then(|h| h.href)
            }),
            _ => None,
        };
        f.href = href
            .map(|h| match h {
                Cow::Borrowed(b) => Cow::Borrowed(b.trim()),
                Cow::Owned(o) => Cow::Owned(o.trim().to_string()),
            })
            .filter(|h| !h.is_empty());
        if f.plugin.as_deref() == Some("rrweb/console@1") {
            if let Some(c) = f
                .payload
                .and_then(|p| serde_json::from_str::<Console<'a>>(p.get()).ok())
            {
                f.console_level = c.level;
                f.console_message = Some(c.payload.join(" "));
            }
        }
        f
    }
}

/// Builder of the `events` table.
pub struct EventsBuilder {
    session_id: StringBuilder,
    window_id: StringBuilder,
    seq: Int64Builder,
    timestamp: TimestampMillisecondBuilder,
    ts_ms: Int64Builder,
    event_type: Int32Builder,
    event_type_name: StringBuilder,
    source: Int32Builder,
    source_name: StringBuilder,
    interaction: Int32Builder,
    interaction_name: StringBuilder,
    node_id: Int64Builder,
    x: Float64Builder,
    y: Float64Builder,
    pointer_type: Int32Builder,
    position_count: Int32Builder,
    text: StringBuilder,
    is_checked: BooleanBuilder,
    href: StringBuilder,
    width: Int32Builder,
    height: Int32Builder,
    custom_tag: StringBuilder,
    plugin: StringBuilder,
    console_level: StringBuilder,
    console_message: StringBuilder,
    url: StringBuilder,
    target_tag: StringBuilder,
    target_id: StringBuilder,
    target_classes: StringBuilder,
    target_selector: StringBuilder,
    target_text: StringBuilder,
    target_href: StringBuilder,
    target_attributes: StringBuilder,
    payload: StringBuilder,
    rows: usize,
}

impl Default for EventsBuilder {
    fn default() -> Self {
        EventsBuilder {
            session_id: StringBuilder::new(),
            window_id: StringBuilder::new(),
            seq: Int64Builder::new(),
            timestamp: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            ts_ms: Int64Builder::new(),
            event_type: Int32Builder::new(),
            event_type_name: StringBuilder::new(),
            source: Int32Builder::new(),
            source_name: StringBuilder::new(),
            interaction: Int32Builder::new(),
            interaction_name: StringBuilder::new(),
            node_id: Int64Builder::new(),
            x: Float64Builder::new(),
            y: Float64Builder::new(),
            pointer_type: Int32Builder::new(),
            position_count: Int32Builder::new(),
            text: StringBuilder::new(),
            is_checked: BooleanBuilder::new(),
            href: StringBuilder::new(),
            width: Int32Builder::new(),
            height: Int32Builder::new(),
            custom_tag: StringBuilder::new(),
            plugin: StringBuilder::new(),
            console_level: StringBuilder::new(),
            console_message: StringBuilder::new(),
            url: StringBuilder::new(),
            target_tag: StringBuilder::new(),
            target_id: StringBuilder::new(),
            target_classes: StringBuilder::new(),
            target_selector: StringBuilder::new(),
            target_text: StringBuilder::new(),
            target_href: StringBuilder::new(),
            target_attributes: StringBuilder::new(),
            payload: StringBuilder::new(),
            rows: 0,
        }
    }
}

impl EventsBuilder {
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one event; `url` is the page URL at the event and `target` the element an
    /// interaction's node id resolved to (see [`super::elements`]).
    pub fn append(
        &mut self,
        session_id: &str,
        seq: i64,
        e: &Event,
        f: &EventFields<'_>,
        url: Option<&str>,
        target: Option<&Target>,
    ) {
        self.session_id.append_value(session_id);
        self.window_id.append_option(e.window_id.as_deref());
        self.seq.append_value(seq);
        self.timestamp.append_value(e.timestamp);
        self.ts_ms.append_value(e.timestamp);
        self.event_type.append_value(e.event_type);
        self.event_type_name
            .append_value(event_type_name(e.event_type));
        self.source.append_option(f.source.map(|v| v as i32));
        self.source_name
            .append_option(f.source.and_then(source_name));
        self.interaction
            .append_option(f.interaction.map(|v| v as i32));
        self.interaction_name.append_option(match f.source {
            Some(2) => f.interaction.and_then(mouse_interaction_name),
            Some(7) => f.interaction.and_then(media_interaction_name),
            _ => None,
        });
        self.node_id.append_option(f.node_id);
        self.x.append_option(f.x);
        self.y.append_option(f.y);
        self.pointer_type
            .append_option(f.pointer_type.map(|v| v as i32));
        self.position_count.append_option(f.position_count);
        self.text.append_option(f.text.as_deref());
        self.is_checked.append_option(f.is_checked);
        self.href.append_option(f.href.as_deref());
        self.width.append_option(f.width);
        self.height.append_option(f.height);
        self.custom_tag.append_option(f.custom_tag.as_deref());
        self.plugin.append_option(f.plugin.as_deref());
        self.console_level.append_option(f.console_level.as_deref());
        self.console_message
            .append_option(f.console_message.as_deref());
        self.url.append_option(url);
        let t = |pick: fn(&Target) -> &Option<String>| target.and_then(|t| pick(t).as_deref());
        self.target_tag.append_option(t(|t| &t.tag));
        self.target_id.append_option(t(|t| &t.id));
        self.target_classes.append_option(t(|t| &t.classes));
        self.target_selector.append_option(t(|t| &t.selector));
        self.target_text.append_option(t(|t| &t.text));
        self.target_href.append_option(t(|t| &t.href));
        self.target_attributes.append_option(t(|t| &t.attributes));
        self.payload.append_value(&e.data);
        self.rows += 1;
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        self.rows = 0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.session_id.finish()),
            Arc::new(self.window_id.finish()),
            Arc::new(self.seq.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.ts_ms.finish()),
            Arc::new(self.event_type.finish()),
            Arc::new(self.event_type_name.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.source_name.finish()),
            Arc::new(self.interaction.finish()),
            Arc::new(self.interaction_name.finish()),
            Arc::new(self.node_id.finish()),
            Arc::new(self.x.finish()),
            Arc::new(self.y.finish()),
            Arc::new(self.pointer_type.finish()),
            Arc::new(self.position_count.finish()),
            Arc::new(self.text.finish()),
            Arc::new(self.is_checked.finish()),
            Arc::new(self.href.finish()),
            Arc::new(self.width.finish()),
            Arc::new(self.height.finish()),
            Arc::new(self.custom_tag.finish()),
            Arc::new(self.plugin.finish()),
            Arc::new(self.console_level.finish()),
            Arc::new(self.console_message.finish()),
            Arc::new(self.url.finish()),
            Arc::new(self.target_tag.finish()),
            Arc::new(self.target_id.finish()),
            Arc::new(self.target_classes.finish()),
            Arc::new(self.target_selector.finish()),
            Arc::new(self.target_text.finish()),
            Arc::new(self.target_href.finish()),
            Arc::new(self.target_attributes.finish()),
            Arc::new(self.payload.finish()),
        ];
        Ok(RecordBatch::try_new(Table::Events.schema(), cols)?)
    }
}
