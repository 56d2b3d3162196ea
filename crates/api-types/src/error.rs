//! The small bodies shared by many endpoints.

use serde::{Deserialize, Serialize};

use crate::serde_util::nullable;

/// Every error body: `{"message": "..."}`. Clients match on Docker's texts,
/// so the message is passed through verbatim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    #[serde(default, deserialize_with = "nullable")]
    pub message: String,
}

impl ErrorResponse {
    pub fn new(message: impl Into<String>) -> Self {
        ErrorResponse {
            message: message.into(),
        }
    }
}

/// `{"Id": "..."}`: commit, exec create, and other "created something" answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdResponse {
    #[serde(
        rename = "Id",
        alias = "id",
        alias = "ID",
        default,
        deserialize_with = "nullable"
    )]
    pub id: String,
}

impl IdResponse {
    pub fn new(id: impl Into<String>) -> Self {
        IdResponse { id: id.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(
            serde_json::to_string(&ErrorResponse::new("No such container: x")).unwrap(),
            r#"{"message":"No such container: x"}"#
        );
        assert_eq!(
            serde_json::to_string(&IdResponse::new("abc")).unwrap(),
            r#"{"Id":"abc"}"#
        );
        assert_eq!(
            serde_json::from_str::<IdResponse>(r#"{"Id":null}"#).unwrap(),
            IdResponse::default()
        );
    }
}
