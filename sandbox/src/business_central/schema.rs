//! The entity schema of the standard API v2.0: entity sets, properties, Edm
//! types, read-only flags, field lengths and enum members. It is read from
//! `entities.json`, a copy of the project's reference data that follows the
//! AL API pages of microsoft/BCApps, so the sandbox exposes exactly the
//! property sets the real service does.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use super::fast_hash::FastMap;

/// Edm type of a property, with enums resolved to their member list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdmType {
    String,
    Guid,
    Decimal,
    Int32,
    Int64,
    Boolean,
    Date,
    DateTimeOffset,
    /// Index into `Schema::enums`.
    Enum(usize),
}

#[derive(Debug, Clone)]
pub struct Property {
    pub name: String,
    pub edm: EdmType,
    pub read_only: bool,
    pub max_length: Option<usize>,
    /// `Code[n]` fields, which Business Central stores in upper case.
    pub upper_case: bool,
}

#[derive(Debug, Clone)]
pub struct EnumType {
    /// Full Edm name, for example `Microsoft.NAV.itemType`.
    pub edm_name: String,
    /// Wire member names (escaped, for example `In_x0020_Review`).
    pub members: Vec<String>,
    /// AL member names, used in BC's "is not an option" message.
    pub al_names: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct EntitySet {
    pub set: String,
    pub entity: String,
    pub properties: Vec<Property>,
    /// Column indexes in ascending byte order of the property names, the
    /// key order of a serialized `serde_json::Map`.
    pub sorted_columns: Vec<usize>,
    pub by_name: FastMap<String, usize>,
    pub insert_allowed: bool,
    pub modify_allowed: bool,
    pub delete_allowed: bool,
    pub navigation: Vec<String>,
    pub bound_actions: Vec<String>,
}

impl EntitySet {
    pub fn column(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Column index of a property that the sandbox code relies on; a missing
    /// one means `entities.json` and the code disagree, a build-time bug.
    pub fn col(&self, name: &str) -> usize {
        match self.by_name.get(name) {
            Some(index) => *index,
            None => panic!("entity set {} has no property {name}", self.set),
        }
    }
}

#[derive(Debug)]
pub struct Schema {
    pub sets: Vec<EntitySet>,
    pub by_set: FastMap<String, usize>,
    pub enums: Vec<EnumType>,
}

impl Schema {
    pub fn set(&self, name: &str) -> Option<&EntitySet> {
        self.by_set.get(name).map(|index| &self.sets[*index])
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.by_set.get(name).copied()
    }
}

#[derive(Deserialize)]
struct RawFile {
    entities: HashMap<String, RawEntity>,
    enums: HashMap<String, RawEnum>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntity {
    entity_set: String,
    entity_name: String,
    insert_allowed: bool,
    modify_allowed: bool,
    delete_allowed: bool,
    #[serde(default)]
    navigation: Vec<String>,
    #[serde(default)]
    bound_actions: Vec<String>,
    properties: Vec<RawProperty>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProperty {
    name: String,
    edm_type: String,
    read_only: bool,
    max_length: Option<usize>,
    al_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnum {
    edm_type: String,
    members: Vec<RawMember>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMember {
    name: String,
    al_name: String,
}

const ENTITIES_JSON: &str = include_str!("entities.json");

/// Returns the schema, parsed once per process.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| parse(ENTITIES_JSON).expect("the embedded entities.json is valid"))
}

fn parse(text: &str) -> Result<Schema, String> {
    let raw: RawFile = serde_json::from_str(text).map_err(|error| error.to_string())?;
    let mut enums = Vec::new();
    let mut enum_index = HashMap::new();
    let mut raw_enums: Vec<_> = raw.enums.into_values().collect();
    raw_enums.sort_by(|a, b| a.edm_type.cmp(&b.edm_type));
    for raw_enum in raw_enums {
        enum_index.insert(raw_enum.edm_type.clone(), enums.len());
        enums.push(EnumType {
            edm_name: raw_enum.edm_type,
            members: raw_enum.members.iter().map(|member| member.name.clone()).collect(),
            al_names: raw_enum.members.iter().map(|member| member.al_name.clone()).collect(),
        });
    }

    let mut sets = Vec::new();
    let mut by_set = FastMap::default();
    let mut raw_sets: Vec<_> = raw.entities.into_values().collect();
    raw_sets.sort_by(|a, b| a.entity_set.cmp(&b.entity_set));
    for raw_set in raw_sets {
        let mut properties = Vec::new();
        let mut by_name = FastMap::default();
        for raw_property in raw_set.properties {
            let edm = match raw_property.edm_type.as_str() {
                "Edm.String" => EdmType::String,
                "Edm.Guid" => EdmType::Guid,
                "Edm.Decimal" => EdmType::Decimal,
                "Edm.Int32" => EdmType::Int32,
                "Edm.Int64" => EdmType::Int64,
                "Edm.Boolean" => EdmType::Boolean,
                "Edm.Date" => EdmType::Date,
                "Edm.DateTimeOffset" => EdmType::DateTimeOffset,
                other => match enum_index.get(other) {
                    Some(index) => EdmType::Enum(*index),
                    None => return Err(format!("unknown type {other}")),
                },
            };
            let upper_case = raw_property.al_type.as_deref().is_some_and(|al| al.starts_with("Code["));
            by_name.insert(raw_property.name.clone(), properties.len());
            properties.push(Property {
                name: raw_property.name,
                edm,
                read_only: raw_property.read_only,
                max_length: raw_property.max_length,
                upper_case,
            });
        }
        let mut sorted_columns: Vec<usize> = (0..properties.len()).collect();
        sorted_columns.sort_by(|left, right| properties[*left].name.cmp(&properties[*right].name));
        by_set.insert(raw_set.entity_set.clone(), sets.len());
        sets.push(EntitySet {
            set: raw_set.entity_set,
            entity: raw_set.entity_name,
            properties,
            sorted_columns,
            by_name,
            insert_allowed: raw_set.insert_allowed,
            modify_allowed: raw_set.modify_allowed,
            delete_allowed: raw_set.delete_allowed,
            navigation: raw_set.navigation,
            bound_actions: raw_set.bound_actions,
        });
    }
    Ok(Schema { sets, by_set, enums })
}
