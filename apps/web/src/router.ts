import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router';
import { ensureMe } from './composables/useSession';
import { installNavRecovery } from './lib/nav-recovery';

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean;
    /** Shown signed in or out, in the bare layout (an invitation's page). */
    open?: boolean;
    title?: string;
  }
}

export const routes: RouteRecordRaw[] = [
  { path: '/', redirect: '/billing' },
  {
    path: '/signin',
    component: () => import('./pages/SignIn.vue'),
    meta: { public: true, title: 'Sign in' },
  },
  {
    path: '/signup',
    component: () => import('./pages/SignUp.vue'),
    meta: { public: true, title: 'Create account' },
  },
  {
    path: '/reset',
    component: () => import('./pages/ResetPassword.vue'),
    meta: { public: true, title: 'Reset password' },
  },
  {
    path: '/invite/:token',
    component: () => import('./pages/AcceptInvitation.vue'),
    meta: { public: true, open: true, title: 'Invitation' },
  },
  {
    path: '/account/security',
    component: () => import('./pages/AccountSecurity.vue'),
    meta: { title: 'Account security' },
  },
  {
    path: '/billing',
    component: () => import('./pages/Billing.vue'),
    meta: { title: 'Billing & Usage' },
  },
  { path: '/plans', component: () => import('./pages/Plans.vue'), meta: { title: 'Plans' } },
  { path: '/usage', component: () => import('./pages/Usage.vue'), meta: { title: 'Usage' } },
  {
    path: '/studio/image',
    component: () => import('./pages/ImageStudio.vue'),
    meta: { title: 'Image Studio' },
  },
  {
    path: '/studio/video',
    component: () => import('./pages/VideoStudio.vue'),
    meta: { title: 'Video Studio' },
  },
  {
    path: '/purchases/:orderId/receipt',
    component: () => import('./pages/Receipt.vue'),
    meta: { title: 'Receipt' },
  },
  {
    path: '/settings',
    component: () => import('./pages/settings/SettingsLayout.vue'),
    meta: { title: 'Workspace settings' },
    children: [
      { path: '', redirect: '/settings/members' },
      {
        path: 'members',
        component: () => import('./pages/settings/Members.vue'),
        meta: { title: 'Members' },
      },
      {
        path: 'notifications',
        component: () => import('./pages/settings/NotificationSettings.vue'),
        meta: { title: 'Notifications' },
      },
      {
        path: 'keys',
        component: () => import('./pages/settings/ApiKeys.vue'),
        meta: { title: 'API keys' },
      },
    ],
  },
  { path: '/keys', redirect: '/settings/keys' },
  { path: '/members', redirect: '/settings/members' },
  {
    path: '/admin',
    component: () => import('./pages/admin/AdminLayout.vue'),
    meta: { title: 'Admin' },
    children: [
      { path: '', redirect: '/admin/workspaces' },
      {
        path: 'workspaces',
        component: () => import('./pages/admin/AdminWorkspaces.vue'),
        meta: { title: 'Admin · Workspaces' },
      },
      {
        path: 'rules',
        component: () => import('./pages/admin/AdminRules.vue'),
        meta: { title: 'Admin · Pricing rules' },
      },
      {
        path: 'catalog',
        component: () => import('./pages/admin/AdminCatalog.vue'),
        meta: { title: 'Admin · Plans, packs and catalog' },
      },
      {
        path: 'audit',
        component: () => import('./pages/admin/AdminAudit.vue'),
        meta: { title: 'Admin · Audit log' },
      },
      {
        path: 'keys',
        component: () => import('./pages/admin/AdminKeys.vue'),
        meta: { title: 'Admin · Service keys' },
      },
    ],
  },
  {
    path: '/:pathMatch(.*)*',
    component: () => import('./pages/NotFound.vue'),
    meta: { title: 'Not found' },
  },
];

export function createAppRouter() {
  const router = createRouter({
    history: createWebHistory(),
    routes,
    scrollBehavior: () => ({ top: 0 }),
  });

  router.beforeEach(async (to) => {
    let me = null;
    try {
      me = await ensureMe();
    } catch {
      // The server is unreachable: let the page show its own error state.
      return true;
    }
    if (to.meta.open) return true;
    if (to.meta.public) return me ? '/billing' : true;
    if (!me)
      return {
        path: '/signin',
        query: to.fullPath === '/billing' || to.fullPath === '/' ? {} : { next: to.fullPath },
      };
    return true;
  });

  installNavRecovery(router, routes);
  router.afterEach((to) => {
    document.title = `${to.meta.title ?? 'Billing & Usage'} · CloudMySite`;
  });
  return router;
}
