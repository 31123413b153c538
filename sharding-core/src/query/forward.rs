//! Forwards Diesel's query-building traits through the routing wrappers, so that
//! `.filter()`, `.order()`, `.limit()`… still work after `.for_key()` or `.set_shard()`.

/// Implements Diesel's `QueryDsl` method traits for a wrapper that has a
/// `map_query(self, f) -> Wrapper<Q2, ..>` method.
macro_rules! forward_query_dsl {
    ($wrapper:ident < Q $(, $extra:ident)* >) => {
        impl<Q $(, $extra)*> diesel::QueryDsl for $wrapper<Q $(, $extra)*> {}

        impl<Q $(, $extra)*, Predicate> diesel::query_dsl::methods::FilterDsl<Predicate>
            for $wrapper<Q $(, $extra)*>
        where
            Q: diesel::query_dsl::methods::FilterDsl<Predicate>,
        {
            type Output = $wrapper<Q::Output $(, $extra)*>;
            fn filter(self, predicate: Predicate) -> Self::Output {
                self.map_query(|q| q.filter(predicate))
            }
        }

        impl<Q $(, $extra)*, Predicate> diesel::query_dsl::methods::OrFilterDsl<Predicate>
            for $wrapper<Q $(, $extra)*>
        where
            Q: diesel::query_dsl::methods::OrFilterDsl<Predicate>,
        {
            type Output = $wrapper<Q::Output $(, $extra)*>;
            fn or_filter(self, predicate: Predicate) -> Self::Output {
                self.map_query(|q| q.or_filter(predicate))
            }
        }

        impl<Q $(, $extra)*, Expr> diesel::query_dsl::methods::OrderDsl<Expr>
            for $wrapper<Q $(, $extra)*>
        where
            Expr: diesel::Expression,
            Q: diesel::query_dsl::methods::OrderDsl<Expr>,
        {
            type Output = $wrapper<Q::Output $(, $extra)*>;
            fn order(self, expr: Expr) -> Self::Output {
                self.map_query(|q| q.order(expr))
            }
        }

        impl<Q $(, $extra)*, Expr> diesel::query_dsl::methods::ThenOrderDsl<Expr>
            for $wrapper<Q $(, $extra)*>
        where
            Q: diesel::query_dsl::methods::ThenOrderDsl<Expr>,
        {
            type Output = $wrapper<Q::Output $(, $extra)*>;
            fn then_order_by(self, expr: Expr) -> Self::Output {
                self.map_query(|q| q.then_order_by(expr))
            }
        }

        impl<Q $(, $extra)*> diesel::query_dsl::methods::LimitDsl for $wrapper<Q $(, $extra)*>
        where
            Q: diesel::query_dsl::methods::LimitDsl,
        {
            type Output = $wrapper<Q::Output $(, $extra)*>;
            fn limit(self, limit: i64) -> Self::Output {
                self.map_query(|q| q.limit(limit))
            }
        }

        impl<Q $(, $extra)*> diesel::query_dsl::methods::OffsetDsl for $wrapper<Q $(, $extra)*>
        where
            Q: diesel::query_dsl::methods::OffsetDsl,
        {
            type Output = $wrapper<Q::Output $(, $extra)*>;
            fn offset(self, offset: i64) -> Self::Output {
                self.map_query(|q| q.offset(offset))
            }
        }

        impl<Q $(, $extra)*, Selection> diesel::query_dsl::methods::SelectDsl<Selection>
            for $wrapper<Q $(, $extra)*>
        where
            Selection: diesel::Expression,
            Q: diesel::query_dsl::methods::SelectDsl<Selection>,
        {
            type Output = $wrapper<Q::Output $(, $extra)*>;
            fn select(self, selection: Selection) -> Self::Output {
                self.map_query(|q| q.select(selection))
            }
        }

        impl<Q $(, $extra)*> diesel::query_dsl::methods::DistinctDsl for $wrapper<Q $(, $extra)*>
        where
            Q: diesel::query_dsl::methods::DistinctDsl,
        {
            type Output = $wrapper<Q::Output $(, $extra)*>;
            fn distinct(self) -> Self::Output {
                self.map_query(|q| q.distinct())
            }
        }

        impl<Q $(, $extra)*, Expr> diesel::query_dsl::methods::GroupByDsl<Expr>
            for $wrapper<Q $(, $extra)*>
        where
            Expr: diesel::Expression,
            Q: diesel::query_dsl::methods::GroupByDsl<Expr>,
        {
            type Output = $wrapper<Q::Output $(, $extra)*>;
            fn group_by(self, expr: Expr) -> Self::Output {
                self.map_query(|q| q.group_by(expr))
            }
        }

        impl<'a, Q $(, $extra)*, DB> diesel::query_dsl::methods::BoxedDsl<'a, DB>
            for $wrapper<Q $(, $extra)*>
        where
            Q: diesel::query_dsl::methods::BoxedDsl<'a, DB>,
        {
            type Output = $wrapper<Q::Output $(, $extra)*>;
            fn internal_into_boxed(self) -> Self::Output {
                self.map_query(|q| q.internal_into_boxed())
            }
        }

        impl<Q $(, $extra)*, PK> diesel::query_dsl::methods::FindDsl<PK> for $wrapper<Q $(, $extra)*>
        where
            Q: diesel::query_dsl::methods::FindDsl<PK>,
        {
            type Output = $wrapper<Q::Output $(, $extra)*>;
            fn find(self, id: PK) -> Self::Output {
                self.map_query(|q| q.find(id))
            }
        }
    };
}

pub(crate) use forward_query_dsl;
