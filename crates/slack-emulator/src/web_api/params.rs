//! Method arguments from a query string, a form body or a JSON body, read uniformly.

use axum::http::{header, HeaderMap};
use serde_json::{Map, Value};

/// Arguments of one call. Form and query values are strings; JSON values keep their type.
#[derive(Debug, Default)]
pub(crate) struct Params(Map<String, Value>);

impl Params {
    /// Parses the request, returning the arguments and the token (Bearer header, or a form
    /// or query `token`; JSON bodies must use the header, as on Slack). Errors are Slack codes.
    pub(crate) fn from_request(
        headers: &HeaderMap,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<(Self, Option<String>), &'static str> {
        let mut params = Map::new();
        let mut form_token = None;
        let mut add_form = |bytes: &[u8], params: &mut Map<String, Value>| {
            for (key, value) in url::form_urlencoded::parse(bytes) {
                if key == "token" {
                    form_token = Some(value.into_owned());
                } else {
                    params.insert(key.into_owned(), Value::String(value.into_owned()));
                }
            }
        };
        if let Some(query) = query {
            add_form(query.as_bytes(), &mut params);
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.starts_with("application/json") {
            if !body.is_empty() {
                let value: Value = serde_json::from_slice(body).map_err(|_| "invalid_json")?;
                let Value::Object(map) = value else {
                    return Err("json_not_object");
                };
                params.extend(map.into_iter().filter(|(k, _)| k != "token"));
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded")
            || (content_type.is_empty() && !body.is_empty())
        {
            add_form(body, &mut params);
        } else if !body.is_empty() {
            return Err("invalid_form_data");
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        Ok((Self(params), bearer.or(form_token)))
    }

    /// Arguments from a JSON object (a `response_url` body or an ack payload).
    pub(crate) fn from_value(value: Value) -> Self {
        match value {
            Value::Object(map) => Self(map),
            _ => Self::default(),
        }
    }

    /// A string argument; numbers and booleans are given as their text.
    pub(crate) fn str(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A non-empty string argument.
    pub(crate) fn non_empty(&self, key: &str) -> Option<String> {
        self.str(key).filter(|s| !s.is_empty())
    }

    /// A list argument: a comma-separated string (form) or a JSON array of strings.
    pub(crate) fn list(&self, key: &str) -> Option<Vec<String>> {
        let items: Vec<String> = match self.0.get(key)? {
            Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Value::String(s) => s.split(',').map(|u| u.trim().to_owned()).collect(),
            _ => return None,
        };
        let items: Vec<String> = items.into_iter().filter(|s| !s.is_empty()).collect();
        (!items.is_empty()).then_some(items)
    }

    pub(crate) fn bool(&self, key: &str) -> bool {
        match self.0.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true" || s == "1",
            Some(Value::Number(n)) => n.as_u64() == Some(1),
            _ => false,
        }
    }

    /// A nested JSON argument (`blocks`, `view`): as sent in a JSON body, or decoded from
    /// the JSON string a form carries. `Err` when the string is not JSON.
    pub(crate) fn json(&self, key: &str) -> Result<Option<Value>, ()> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|_| ()),
            Some(other) => Ok(Some(other.clone())),
        }
    }

    /// The arguments as a JSON object, nested JSON strings decoded, for the call record.
    pub(crate) fn to_value(&self) -> Value {
        let mut out = self.0.clone();
        for key in ["blocks", "view", "attachments", "metadata"] {
            if let Ok(Some(decoded)) = self.json(key) {
                out.insert(key.to_owned(), decoded);
            }
        }
        Value::Object(out)
    }
}
