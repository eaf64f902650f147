//! Stub: replaced by the provider's real adapter.

use super::{AuthStyle, Provider, ProviderId, Region, UsageContext, UsageError};
use crate::snapshot::Snapshot;
use crate::throttle::{Cause, Classification, error_message};
use http::HeaderMap;
use jiff::Timestamp;

pub struct Claude;

const REGIONS: &[Region] = &[Region {
    name: "global",
    api_base: "https://api.anthropic.com",
    usage_url: "https://api.anthropic.com/api/oauth/usage",
}];

impl Provider for Claude {
    fn id(&self) -> ProviderId {
        ProviderId::Claude
    }

    fn regions(&self) -> &'static [Region] {
        REGIONS
    }

    fn auth_style(&self) -> AuthStyle {
        AuthStyle::Bearer
    }

    fn parse_usage(&self, _body: &[u8], _context: &UsageContext) -> Result<Snapshot, UsageError> {
        Err(UsageError::Shape("not implemented yet".into()))
    }

    fn classify(
        &self,
        _status: u16,
        _headers: &HeaderMap,
        body: &[u8],
        _now: Timestamp,
    ) -> Classification {
        Classification::new(Cause::Other, &error_message(body))
    }
}
