import { createApp } from 'vue';
import { VueQueryPlugin } from '@tanstack/vue-query';
import App from './App.vue';
import { createAppRouter } from './router';
import { queryClient, whenSignedOut } from './lib/query';
import { ME_KEY } from './composables/useSession';
import './styles.css';

const router = createAppRouter();
// A session that ends mid-visit sends the person to sign in, then back where they were.
whenSignedOut(() => {
  queryClient.setQueryData(ME_KEY, null);
  const here = router.currentRoute.value;
  if (!here.meta.public) void router.replace({ path: '/signin', query: { next: here.fullPath } });
});

const app = createApp(App);
app.use(VueQueryPlugin, { queryClient });
app.use(router);
app.mount('#app');
