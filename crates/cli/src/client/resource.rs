//! What the resource commands share: listing (with pages) as a table, creating,
//! and deleting by ID or name.

use anyhow::bail;
use serde_json::Value;

use super::Ctx;
use super::api::ApiClient;
use super::output::{Column, items_table, print_json};

/// A query string, as `(key, value)` pairs.
pub type Query = Vec<(&'static str, String)>;

/// The query pairs whose value is set.
pub fn query(pairs: impl IntoIterator<Item = (&'static str, Option<String>)>) -> Query {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
}

/// Paging options of the paginated lists (servers, tasks, audit).
#[derive(clap::Args, Debug)]
pub struct PageArgs {
    /// At most N items (per page with --all)
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Follow `next_cursor` to the last page
    #[arg(long)]
    pub all: bool,
}

/// How a command names one object: a number is an ID, anything else a name.
#[derive(Debug, PartialEq, Eq)]
pub enum Ref<'a> {
    Id(i64),
    Name(&'a str),
}

pub fn parse_ref(s: &str) -> Ref<'_> {
    match s.parse() {
        Ok(id) if s.bytes().all(|b| b.is_ascii_digit()) => Ref::Id(id),
        _ => Ref::Name(s),
    }
}

/// Fetches a list; with `all`, follows `next_cursor` and returns every item in one
/// `{"items": [...], "next_cursor": null}`.
pub async fn fetch_list(
    api: &ApiClient,
    path: &str,
    mut query: Query,
    page: Option<&PageArgs>,
) -> anyhow::Result<Value> {
    if let Some(limit) = page.and_then(|p| p.limit) {
        query.push(("limit", limit.to_string()));
    }
    let mut list = api.get(path, &query).await?;
    if !page.is_some_and(|p| p.all) {
        return Ok(list);
    }
    while let Some(cursor) = list["next_cursor"].as_str().map(str::to_owned) {
        let mut q = query.clone();
        q.push(("cursor", cursor));
        let next = api.get(path, &q).await?;
        let more = next["items"].as_array().cloned().unwrap_or_default();
        list["next_cursor"] = if more.is_empty() {
            Value::Null
        } else {
            next["next_cursor"].clone()
        };
        if let Some(items) = list["items"].as_array_mut() {
            items.extend(more);
        }
    }
    Ok(list)
}

/// A collection under `/api/v1`, and how to show it.
pub struct Resource {
    /// `/tenants`
    pub path: &'static str,
    /// `tenant`, for messages.
    pub noun: &'static str,
    /// The unique name field: `name` or `username`.
    pub name_key: &'static str,
    /// A list filter that narrows a name lookup (`name_prefix` for servers).
    pub name_filter: Option<&'static str>,
    pub columns: &'static [Column],
}

impl Resource {
    pub async fn list(
        &self,
        ctx: &Ctx,
        query: Query,
        page: Option<&PageArgs>,
    ) -> anyhow::Result<()> {
        let list = fetch_list(&ctx.api, self.path, query, page).await?;
        if ctx.json {
            print_json(&list);
        } else {
            print!("{}", items_table(&list, self.columns));
            if !list["next_cursor"].is_null() {
                eprintln!("(more results: use --all, or a larger --limit)");
            }
        }
        Ok(())
    }

    /// The ID of `reference`: itself when a number, else the object with that exact name.
    pub async fn resolve(&self, api: &ApiClient, reference: &str) -> anyhow::Result<i64> {
        let name = match parse_ref(reference) {
            Ref::Id(id) => return Ok(id),
            Ref::Name(name) => name,
        };
        let filter = self.name_filter.map(|f| (f, name.to_string()));
        let all = PageArgs {
            limit: None,
            all: true,
        };
        let list = fetch_list(api, self.path, filter.into_iter().collect(), Some(&all)).await?;
        let ids: Vec<i64> = list["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|item| item[self.name_key] == name)
            .filter_map(|item| item["id"].as_i64())
            .collect();
        match ids[..] {
            [id] => Ok(id),
            [] => bail!("no {} named `{name}`", self.noun),
            _ => bail!("several {}s are named `{name}`: use the ID", self.noun),
        }
    }

    /// POSTs `body` and reports the new object.
    pub async fn create(&self, ctx: &Ctx, body: Value) -> anyhow::Result<Value> {
        let created = ctx.api.post(self.path, &body).await?;
        if ctx.json {
            print_json(&created);
        } else {
            println!(
                "Created {} {} (id {})",
                self.noun,
                created[self.name_key].as_str().unwrap_or("?"),
                created["id"]
            );
        }
        Ok(created)
    }

    pub async fn remove(&self, ctx: &Ctx, reference: &str) -> anyhow::Result<()> {
        let id = self.resolve(&ctx.api, reference).await?;
        ctx.api.delete(&format!("{}/{id}", self.path)).await?;
        if !ctx.json {
            println!("Deleted {} {reference}", self.noun);
        }
        Ok(())
    }

    /// GET of one object by ID or name.
    pub async fn get(&self, api: &ApiClient, reference: &str) -> anyhow::Result<Value> {
        let id = self.resolve(api, reference).await?;
        api.get(&format!("{}/{id}", self.path), &[]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs() {
        assert_eq!(parse_ref("42"), Ref::Id(42));
        assert_eq!(parse_ref("web-1"), Ref::Name("web-1"));
        assert_eq!(parse_ref("+42"), Ref::Name("+42"));
        assert_eq!(parse_ref("-1"), Ref::Name("-1"));
        assert_eq!(parse_ref(""), Ref::Name(""));
        assert_eq!(
            parse_ref("99999999999999999999"),
            Ref::Name("99999999999999999999")
        );
    }

    #[test]
    fn query_keeps_set_values() {
        let q = query([
            ("site", Some("par1".into())),
            ("tenant", None),
            ("limit", Some("5".into())),
        ]);
        assert_eq!(
            q,
            vec![("site", "par1".to_string()), ("limit", "5".to_string())]
        );
    }
}
