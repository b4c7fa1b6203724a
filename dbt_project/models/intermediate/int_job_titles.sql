-- Job function and seniority of every distinct job title, from the maintained keyword list
-- (seed job_title_keywords): titles are lower-cased, "&" becomes "and", punctuation becomes
-- spaces ("Sr. Dir, Mktg" -> " sr dir mktg "), and a keyword matches whole words. Per dimension
-- the highest-priority keyword wins, the longer keyword on ties. A title with no seniority
-- keyword is an individual contributor.
-- Titles come from the current persons and from every earlier profile version.
with titles as (
    select job_title from {{ ref('stg_persons') }} where job_title is not null
    union
    select job_title from {{ ref('persons_snapshot') }} where job_title is not null
),

normalized as (
    select
        job_title,
        ' ' || trim(regexp_replace(replace(lower(job_title), '&', ' and '), '[^a-z0-9]+', ' ', 'g')) || ' ' as padded
    from titles
),

matches as (
    select
        normalized.job_title,
        keywords.dimension,
        keywords.value,
        keywords.priority * 1000 + length(keywords.keyword) as strength
    from normalized
    join {{ ref('job_title_keywords') }} as keywords
        on contains(normalized.padded, ' ' || keywords.keyword || ' ')
)

select
    normalized.job_title,
    arg_max(matches.value, matches.strength) filter (where matches.dimension = 'function') as job_function,
    coalesce(
        arg_max(matches.value, matches.strength) filter (where matches.dimension = 'seniority'),
        'Individual Contributor'
    ) as job_seniority
from normalized
left join matches on normalized.job_title = matches.job_title
group by normalized.job_title
