//! The heterogeneous schema: node types, behaviours and relations.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A node type of the interaction graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeType {
    /// A shopper.
    User,
    /// A product.
    Item,
    /// A leaf category.
    Category,
    /// A seller.
    Shop,
    /// A brand.
    Brand,
}

impl NodeType {
    /// Every node type, in storage order.
    pub const ALL: [NodeType; 5] =
        [NodeType::User, NodeType::Item, NodeType::Category, NodeType::Shop, NodeType::Brand];

    /// Lowercase name, used in file names and PS table names.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::User => "user",
            NodeType::Item => "item",
            NodeType::Category => "category",
            NodeType::Shop => "shop",
            NodeType::Brand => "brand",
        }
    }

    /// Index into [`NodeType::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for NodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user→item behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behavior {
    /// A click or page view (`pv`).
    Click,
    /// Added to cart.
    Cart,
    /// Added to favourites.
    Fav,
    /// Purchased.
    Buy,
}

impl Behavior {
    /// Every behaviour, in storage order.
    pub const ALL: [Behavior; 4] = [Behavior::Click, Behavior::Cart, Behavior::Fav, Behavior::Buy];

    /// Lowercase name, also the relation name of its user→item edges.
    pub fn as_str(self) -> &'static str {
        match self {
            Behavior::Click => "click",
            Behavior::Cart => "cart",
            Behavior::Fav => "fav",
            Behavior::Buy => "buy",
        }
    }

    /// Index into [`Behavior::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Parses a behaviour label as the public logs write it (`pv`, `clk`,
    /// `click`, `cart`, `fav`, `buy`), case-insensitively.
    pub fn parse_label(label: &str) -> Option<Self> {
        match label.trim().to_ascii_lowercase().as_str() {
            "pv" | "clk" | "click" | "view" => Some(Behavior::Click),
            "cart" | "addcart" | "add_to_cart" => Some(Behavior::Cart),
            "fav" | "favorite" | "favourite" | "collect" => Some(Behavior::Fav),
            "buy" | "purchase" | "order" => Some(Behavior::Buy),
            _ => None,
        }
    }
}

impl fmt::Display for Behavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a stored relation (its edges are kept as CSR by source and
/// CSC by destination, so the reverse relation needs no copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    /// user → item for one behaviour.
    Behavior(Behavior),
    /// item → category/shop/brand.
    BelongsTo,
    /// item → item, viewed by the same user within a window (top-k per item).
    CoView,
    /// item → item, bought by the same user within a window (top-k per item).
    CoBuy,
    /// Any type → any type: a node's most-visited nodes on random walks
    /// (built by the PinSAGE sampler, never stored in a graph directory).
    Walk,
}

/// A stored relation: its name and endpoint types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationSpec {
    /// Unique name, such as `click` or `item_category`.
    pub name: String,
    /// What the relation means.
    pub kind: RelationKind,
    /// Source node type.
    pub src: NodeType,
    /// Destination node type.
    pub dst: NodeType,
}

impl RelationSpec {
    /// The name of the reverse relation used in message passing.
    pub fn reverse_name(&self) -> String {
        format!("rev_{}", self.name)
    }
}

impl std::str::FromStr for Behavior {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Behavior::parse_label(s).ok_or_else(|| format!("unknown behaviour {s:?} (click, cart, fav or buy)"))
    }
}
